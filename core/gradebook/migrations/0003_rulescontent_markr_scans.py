# GET /results: the names and scan time of each Markr result (docs/decisions).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('exams', '0001_initial'),
        ('gradebook', '0002_subjectgrade_student_no_own_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MarkrScan',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('first_name', models.CharField(blank=True, max_length=100)),
                ('last_name', models.CharField(blank=True, max_length=100)),
                ('scanned_on', models.DateTimeField(blank=True, null=True)),
                ('exam', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='markr_scans', to='exams.exam')),
                ('student', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='markr_scans', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['exam_id', 'student_id'],
                'constraints': [models.UniqueConstraint(fields=('student', 'exam'), name='gradebook_one_scan_per_result')],
            },
        ),
    ]
