# External ids as Tatum holds them: its 100 characters may be more code points (presentation selectors).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox', '0002_ratewindow'),
    ]

    operations = [
        migrations.AlterField(
            model_name='customer',
            name='external_id',
            field=models.TextField(unique=True),
        ),
    ]
