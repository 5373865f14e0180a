"""Auto-responses to leads (per rule), consent per source and per lead, and the schedule that
sends the replies that waited for the actionable window."""

import django.db.models.deletion
from django.db import migrations, models

SCHEDULE = "send due auto-replies"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={"func": "leads.autoresponder.send_due_replies",
                  "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0008_agents_with_history_are_kept'),
        ('routing', '0012_agents_with_history_are_kept'),
        ('django_q', '0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more'),
    ]

    operations = [
        migrations.AddField(
            model_name='lead',
            name='consent',
            field=models.BooleanField(default=False, help_text="The person agreed to be contacted (intake's `consent: true`)."),
        ),
        migrations.AddField(
            model_name='leadsource',
            name='requires_consent',
            field=models.BooleanField(default=False, help_text='Its leads get an auto-reply only when they arrive with `consent: true`.'),
        ),
        migrations.AlterField(
            model_name='activity',
            name='kind',
            field=models.CharField(choices=[('routed', 'Routed'), ('registered_again', 'Registered again'), ('offered', 'Offered'), ('claimed', 'Claimed'), ('declined', 'Declined'), ('expired', 'Offer expired'), ('withdrawn', 'Offer withdrawn'), ('escalated', 'Escalated'), ('reassigned', 'Reassigned'), ('pond', 'Moved to the pond'), ('call', 'Call'), ('text', 'Text'), ('email', 'Email'), ('meeting', 'Meeting'), ('note', 'Note'), ('isa_update', 'ISA update'), ('handed_off', 'Handed off'), ('back_to_isa', 'Back with the ISA'), ('auto_reply', 'Auto-reply to the lead')], max_length=20),
        ),
        migrations.CreateModel(
            name='AutoResponse',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('active', models.BooleanField(default=True)),
                ('email_subject', models.CharField(blank=True, max_length=200)),
                ('email_body', models.TextField(blank=True, help_text='Empty: no email.')),
                ('sms_body', models.TextField(blank=True, help_text='Empty: no text.', verbose_name='text message')),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('rule', models.OneToOneField(help_text='Leads this rule takes get this answer (pick the catch-all for the rest).', on_delete=django.db.models.deletion.CASCADE, related_name='auto_response', to='routing.rule')),
            ],
            options={
                'verbose_name': 'auto-response',
            },
        ),
        migrations.CreateModel(
            name='AutoReply',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel', models.CharField(choices=[('email', 'Email'), ('sms', 'Text')], max_length=5)),
                ('status', models.CharField(choices=[('pending', 'Waiting'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('created_at', models.DateTimeField()),
                ('due_at', models.DateTimeField(db_index=True, help_text='Not before the window opens.')),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('to', models.CharField(blank=True, max_length=254)),
                ('subject', models.CharField(blank=True, max_length=200)),
                ('body', models.TextField(blank=True)),
                ('last_error', models.TextField(blank=True)),
                ('lead', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='auto_replies', to='leads.lead')),
                ('response', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replies', to='leads.autoresponse')),
            ],
            options={
                'verbose_name_plural': 'auto-replies',
                'ordering': ['created_at', 'id'],
                'constraints': [models.UniqueConstraint(fields=('lead', 'channel'), name='one_auto_reply_per_lead_channel')],
            },
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
