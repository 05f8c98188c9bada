# Export jobs that outlive their worker: the attempt count and the checkpoint a resumed run starts from.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0007_auditentry_undetermined_outcome'),
    ]

    operations = [
        migrations.AddField(
            model_name='exportjob',
            name='attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='exportjob',
            name='partial_name',
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.AddField(
            model_name='exportjob',
            name='partial_bytes',
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
