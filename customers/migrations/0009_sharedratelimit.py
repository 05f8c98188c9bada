# The deployment's shared rate limit for Tatum calls (customers.credits.ratelimit): one row per limit.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0008_exportjob_checkpoint'),
    ]

    operations = [
        migrations.CreateModel(
            name='SharedRateLimit',
            fields=[
                ('name', models.CharField(max_length=50, primary_key=True, serialize=False)),
                ('next_slot', models.FloatField()),
            ],
        ),
    ]
