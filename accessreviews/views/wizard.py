"""The create-review wizard, the edit page and the choosers.

The wizard keeps its draft in the session (accessreviews.wizard_state) between steps; a GET
shows a step and changes nothing, a POST validates it and moves on (or back, or searches a
chooser, or adds / removes a stage, which re-render the step with the values as typed).
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from accessreviews import choosers, preflight, wizard_state
from accessreviews.choices import SeriesStatus
from accessreviews.drafts import DefinitionDraft, check_draft
from accessreviews.forms import ReviewForm, ScheduleForm, ScopeForm, SettingsForm, StagesForm
from accessreviews.forms.base import search_unchosen
from accessreviews.forms.schedule import default_zone
from accessreviews.forms.stages import reviewer_choices, with_stage_added, with_stage_removed
from accessreviews.permissions import definitions_visible_to, may_manage
from accessreviews.services.definitions import definition_create as create_service
from accessreviews.services.definitions import definition_update
from accessreviews.wizard_state import STEPS
from directory import audit
from directory.capabilities import capabilities_for

STEP_FORMS = {
    "scope": ScopeForm,
    "reviewers": StagesForm,
    "schedule": ScheduleForm,
    "settings": SettingsForm,
}
STEP_TITLES = {
    "scope": "Scope",
    "reviewers": "Reviewers and stages",
    "schedule": "Schedule",
    "settings": "Settings",
    "review": "Review and create",
}
CHOOSER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


def creator_required(view):
    """Anonymous -> sign in; signed in but unable to create any review -> 403, audited."""

    @login_required
    def guarded(request, *args, **kwargs):
        if not capabilities_for(request.user).create_reviews:
            audit.record_denied(request, "definition_create")
            raise PermissionDenied("Creating reviews is open to administrators and group owners.")
        return view(request, *args, **kwargs)

    guarded.__name__ = view.__name__
    guarded.__doc__ = view.__doc__
    return guarded


@require_http_methods(["GET", "POST"])
@creator_required
def definition_create(request):
    """One step of the wizard."""
    wizard_id = request.GET.get("w")
    created = wizard_state.created_by(request.session, wizard_id)
    if created:
        messages.info(request, "This review was already created.")
        return redirect("accessreviews:definition-detail", uuid=created)
    state = wizard_state.load(request.session, wizard_id, _fresh_draft(request.user))
    step = request.GET.get("step", STEPS[0])
    if _expired(request, state, step):
        messages.warning(request, "This draft expired; start again.")
        return redirect("accessreviews:definition-create")
    if not state.step_allowed(step):
        return _goto(state, STEPS[state.reached])
    if step == "review":
        return _review_step(request, state)
    form = _step_form(step, request, state.draft)
    if request.method == "POST":
        moved = _handle_post(request, state, step, form)
        if moved:
            return moved
    return _render_step(request, state, step, form)


@require_safe
@creator_required
def chooser(request, kind):
    """Up to 20 matches among what the person may pick, as an HTML fragment."""
    if kind not in choosers.KINDS:
        raise Http404("No such chooser.")
    name = request.GET.get("name", "")
    name = name if CHOOSER_NAME.match(name) else kind
    text = request.GET.get("q") or request.GET.get(f"q_{name}", "")
    # The chooser's chosen boxes come along (hx-include), so its matches leave them out.
    results = search_unchosen(kind, request.user, text, request.GET.getlist(name))
    context = {"results": results, "name": name, "q": text.strip(), "kind": kind}
    return render(request, "accessreviews/_chooser_results.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def definition_edit(request, uuid):
    """The whole series on one page, with the wizard's step forms."""
    definition = get_object_or_404(definitions_visible_to(request.user), uuid=uuid)
    if not may_manage(request.user, definition):
        audit.record_denied(request, "definition_update", definition)
        raise PermissionDenied("You may read this review but not change it.")
    if definition.status == SeriesStatus.ENDED:
        messages.info(request, "This series has ended; it can no longer be changed.")
        return redirect("accessreviews:definition-detail", uuid=definition.uuid)
    sections, draft = _edit_sections(request, wizard_state.draft_of(definition))
    if request.method == "POST" and request.POST.get("action") == "save" and draft:
        try:
            definition_update(request.user, definition, draft)
        except ValidationError as error:
            sections["errors"] = _messages_of(error)
        else:
            messages.success(request, "Saved. Running reviews keep their settings.")
            return redirect("accessreviews:definition-detail", uuid=definition.uuid)
    context = {"definition": definition, "nav": "reviews", **sections}
    return render(request, "accessreviews/wizard/edit.html", context)


# --- Steps ---------------------------------------------------------------------------------------


def _fresh_draft(user) -> DefinitionDraft:
    return DefinitionDraft(time_zone=default_zone(user))


def _step_form(step, request, draft, data=None):
    if data is None and request.method == "POST":
        data = request.POST
    return STEP_FORMS[step](data, user=request.user, draft=draft)


def _expired(request, state, step) -> bool:
    """A tab's wizard that is no longer in the session (dropped as the oldest, or expired).

    A new wizard is stored only at its first save, so an unknown id is new while it shows
    Step 1 and posts no sign (the hidden "stored" field) of an earlier save.
    """
    if state.stored or not request.GET.get("w"):
        return False
    return step != STEPS[0] or bool(request.POST.get("stored"))


def _handle_post(request, state, step, form):
    """Next, Back, a step link, or a re-render (search, add or remove a stage).

    Returns a response when it moves.
    """
    goto = request.POST.get("goto")
    if goto:
        return _goto_step(request, state, step, form, goto)
    action = request.POST.get("action", "next")
    index = STEPS.index(step)
    if action == "back":
        if form.is_valid():
            state.draft = form.apply(state.draft)
            wizard_state.save(request.session, state)
        return _goto(state, STEPS[max(index - 1, 0)])
    if action == "next" and form.validate_step():
        state.draft = form.apply(state.draft)
        state.advance_to(STEPS[index + 1])
        wizard_state.save(request.session, state)
        return _goto(state, STEPS[index + 1])
    if action != "next":
        return _rebuild(request, state, step, action, form)
    return None


def _goto_step(request, state, step, form, target):
    """A step link: save this step and go if it validates; otherwise show why, save nothing."""
    if not state.step_allowed(target):
        target = STEPS[state.reached]
    if form.validate_step():
        state.draft = form.apply(state.draft)
        wizard_state.save(request.session, state)
        return _goto(state, target)
    return _render_step(request, state, step, form, goto_refused=True)


def _rebuild(request, state, step, action, form):
    """Re-render the step with the values as typed (no errors, nothing stored)."""
    data = request.POST
    if step == "reviewers" and action == "add_stage":
        first = reviewer_choices(state.draft.scope_type)[0][0]
        data = with_stage_added(data, first)
    elif step == "reviewers" and action.startswith("remove_stage:"):
        number = action.partition(":")[2]
        data = with_stage_removed(data, int(number)) if number.isdigit() else data
    form = _step_form(step, request, state.draft, data)
    form.quiet()
    return _render_step(request, state, step, form)


def _render_step(request, state, step, form, goto_refused=False):
    context = {
        "goto_refused": goto_refused,
        "nav": "reviews",
        "state": state,
        "step": step,
        "steps": _progress(state, step),
        "title": STEP_TITLES[step],
        "form": form,
        "first": step == STEPS[0],
        "has_choosers": step != "schedule",
    }
    return render(request, f"accessreviews/wizard/{step}.html", context)


def _review_step(request, state):
    figures = preflight.preflight(state.draft)
    data = request.POST if request.method == "POST" else None
    form = ReviewForm(
        data,
        user=request.user,
        draft=state.draft,
        needs_acknowledgement=figures.needs_acknowledgement,
    )
    errors = check_draft(state.draft)
    if request.method == "POST":
        if request.POST.get("goto") and state.step_allowed(request.POST["goto"]):
            return _goto(state, request.POST["goto"])
        if request.POST.get("action") == "back":
            return _goto(state, "settings")
        if form.is_valid() and not errors:
            return _create(request, state)
    labels = preflight.Names.of(state.draft)
    context = {
        "nav": "reviews",
        "state": state,
        "step": "review",
        "steps": _progress(state, "review"),
        "title": STEP_TITLES["review"],
        "form": form,
        "draft_errors": _errors_by_step(errors),
        "sentence": preflight.sentence(state.draft, labels) if not errors else "",
        "calendar": preflight.calendar(state.draft, default_zone(request.user)),
        "viewer_zone": default_zone(request.user),
        "preflight": figures,
    }
    return render(request, "accessreviews/wizard/review.html", context)


def _create(request, state):
    try:
        definition = create_service(request.user, state.draft)
    except ValidationError as error:  # the directory changed since the step was checked
        messages.error(request, " ".join(_messages_of(error)))
        return _goto(state, "review")
    wizard_state.discard(request.session, state, created_uuid=definition.uuid)
    messages.success(request, f"“{definition.name}” is created.")
    return redirect("accessreviews:definition-detail", uuid=definition.uuid)


def _goto(state, step):
    return redirect(f"{reverse('accessreviews:definition-create')}?w={state.id}&step={step}")


def _progress(state, current):
    return [
        {
            "key": key,
            "number": number,
            "title": STEP_TITLES[key],
            "current": key == current,
            "reachable": number - 1 <= state.reached,
        }
        for number, key in enumerate(STEPS, start=1)
    ]


def _errors_by_step(errors) -> list[tuple[str, str]]:
    """(step, message) for what still stops the draft, pointing at the step that fixes it."""
    owners = {}
    for step in ("scope", "schedule", "settings"):
        owners.update(dict.fromkeys(STEP_FORMS[step].DRAFT_FIELDS, step))
    found = []
    for key, messages_ in errors.items():
        step = owners.get(key, "reviewers" if key.startswith("stages") else "scope")
        found += [(step, message) for message in messages_]
    return found


def _messages_of(error: ValidationError) -> list[str]:
    if hasattr(error, "message_dict"):
        return [m for ms in error.message_dict.values() for m in ms]
    return list(error.messages)


# --- Edit ----------------------------------------------------------------------------------------


def _edit_sections(request, draft):
    """The four step forms on one page, each checked against the sections before it.

    Returns (context, the valid new draft or None).
    """
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action", "save") if data is not None else ""
    if data is not None and action == "add_stage":
        data = with_stage_added(data, reviewer_choices(draft.scope_type)[0][0])
    elif data is not None and action.startswith("remove_stage:"):
        number = action.partition(":")[2]
        data = with_stage_removed(data, int(number)) if number.isdigit() else data
    valid = True
    sections = {}
    for key in ("scope", "reviewers", "schedule", "settings"):
        form = STEP_FORMS[key](data, user=request.user, draft=draft)
        if data is not None and action != "save":
            form.quiet()
        elif data is not None and form.validate_step():
            draft = form.apply(draft)
        elif data is not None:
            valid = False
        sections[key] = form
    sections["errors"] = []
    return sections, (draft if data is not None and valid and action == "save" else None)
