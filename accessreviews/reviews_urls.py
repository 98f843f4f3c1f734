from django.urls import path

from accessreviews.views import apply, definitions, instances, panel, wizard, work_queue

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

# The access panel (issue 6): "My reviews", one stage's page per reviewer, its decisions.
urlpatterns += [
    path("my-reviews/", panel.my_reviews, name="my-reviews"),
    path("my-reviews/<uuid:uuid>/", panel.review_open, name="review-open"),
    path("my-reviews/<uuid:uuid>/<int:ordinal>/", panel.review_panel, name="review-panel"),
    path("my-reviews/<uuid:uuid>/<int:ordinal>/decide/", panel.items_decide, name="items-decide"),
    path(
        "my-reviews/<uuid:uuid>/<int:ordinal>/accept/",
        panel.recommendations_take,
        name="recommendations-accept",
    ),
    path(
        "my-reviews/<uuid:uuid>/<int:ordinal>/items/<uuid:item>/decide/",
        panel.item_decide,
        name="item-decide",
    ),
]

# One run of a series (admins and the review's managers): progress and the operations.
urlpatterns += [
    path("instances/<uuid:uuid>/", instances.instance_detail, name="instance-detail"),
    path("instances/<uuid:uuid>/stop/", instances.instance_stop, name="instance-stop"),
    path("instances/<uuid:uuid>/extend/", instances.instance_extend, name="instance-extend"),
    path("instances/<uuid:uuid>/stage/stop/", instances.stage_stop, name="instance-stage-stop"),
    path("instances/<uuid:uuid>/stage/reset/", instances.stage_reset, name="instance-stage-reset"),
    path("instances/<uuid:uuid>/reassign/", instances.items_reassign, name="instance-reassign"),
    path(
        "instances/<uuid:uuid>/reresolve/",
        instances.reviewers_reresolve,
        name="instance-reresolve",
    ),
    path("instances/<uuid:uuid>/remind/", instances.reminder_send, name="instance-remind"),
]

# The admins' work queue, Retry of a failed run and Start now of a series.
urlpatterns += [
    path("work-queue/", work_queue.work_queue_page, name="work-queue"),
    path("instances/<uuid:uuid>/retry/", work_queue.instance_retry, name="instance-retry"),
    path("<uuid:uuid>/start-now/", definitions.definition_start_now, name="definition-start-now"),
]
