# Freezing an account blocks its available balance (ACCOUNT_FROZEN); unfreezing gives it back.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("sandbox", "0003_customer_external_id_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="frozen_blocked_amount",
            field=models.CharField(default="0", max_length=80),
        ),
    ]
