# An audit entry keeps the customer's external id whole: Tatum's 100 characters may be more code points.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0009_sharedratelimit'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='customer_external_id',
            field=models.TextField(blank=True, db_index=True),
        ),
    ]
