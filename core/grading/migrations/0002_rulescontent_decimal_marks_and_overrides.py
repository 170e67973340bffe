# marks_obtained becomes a decimal (partial credit, docs/decisions); PostgreSQL cannot change the type of a
# column that a generated column reads, so `percentage` is dropped and made again around the change.

import django.db.models.deletion
import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('exams', '0001_initial'),
        ('grading', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='degree',
            name='override_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='degree',
            name='override_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='degree',
            name='override_reason',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.AddField(
            model_name='degree',
            name='previous_marks_obtained',
            field=models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='degree',
            name='previous_source',
            field=models.CharField(blank=True, choices=[('online', 'Online'), ('markr', 'Markr'), ('upload', 'Upload'), ('manual', 'Manual')], db_default='', default='', max_length=10),
        ),
        migrations.RemoveField(model_name='degree', name='percentage'),
        migrations.AlterField(
            model_name='degree',
            name='marks_obtained',
            field=models.DecimalField(decimal_places=4, max_digits=14),
        ),
        migrations.AddField(
            model_name='degree',
            name='percentage',
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.expressions.CombinedExpression(
                    django.db.models.expressions.CombinedExpression(
                        django.db.models.functions.comparison.Cast(models.F('marks_obtained'), models.FloatField()),
                        '*',
                        models.Value(100.0),
                    ),
                    '/',
                    django.db.models.functions.comparison.Cast(models.F('marks_available'), models.FloatField()),
                ),
                output_field=models.FloatField(),
            ),
        ),
        migrations.AddConstraint(
            model_name='degree',
            constraint=models.CheckConstraint(condition=models.Q(('marks_obtained__gte', 0)), name='grading_degree_obtained_not_negative'),
        ),
    ]
