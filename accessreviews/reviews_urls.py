from django.urls import path

from accessreviews.views import definitions, wizard, work_queue

app_name = "accessreviews"

urlpatterns = [
    path("", definitions.definition_list, name="definition-list"),
    path("new/", wizard.definition_create, name="definition-create"),
    path("choose/<str:kind>/", wizard.chooser, name="chooser"),
    path("<uuid:uuid>/", definitions.definition_detail, name="definition-detail"),
    path("<uuid:uuid>/edit/", wizard.definition_edit, name="definition-edit"),
    path("<uuid:uuid>/pause/", definitions.definition_pause, name="definition-pause"),
    path("<uuid:uuid>/resume/", definitions.definition_resume, name="definition-resume"),
    path("<uuid:uuid>/end/", definitions.definition_end, name="definition-end"),
    path("<uuid:uuid>/delete/", definitions.definition_delete, name="definition-delete"),
]

urlpatterns += [
    path("work-queue/", work_queue.work_queue_page, name="work-queue"),
    path("instances/<uuid:uuid>/retry/", work_queue.instance_retry, name="instance-retry"),
    path("<uuid:uuid>/start-now/", definitions.definition_start_now, name="definition-start-now"),
]
