from django.urls import path

from accessreviews.views import apply, definitions, wizard

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
    path("instances/<uuid:uuid>/apply/", apply.instance_apply, name="instance-apply"),
    path("instances/<uuid:uuid>/worklist/", apply.instance_worklist, name="instance-worklist"),
]
