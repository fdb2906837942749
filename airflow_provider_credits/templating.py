"""Templated arguments that render to nothing are errors: :class:`RejectEmptyTemplates`.

An argument such as ``credit_pool="{{ params.get('pool', '') }}"`` can render to an empty
string. Every argument of this package treats an empty value as "not given" and falls back
to a default (the primary pool, the data interval, every reservation of the run...), so an
empty rendering would silently do something the DAG author did not ask for; an argument
without a default (a connection id) would fail later, less clearly. The mixin makes
it a :class:`~airflow_provider_credits.exceptions.CreditsConfigError` naming the argument,
its template and what the template gave, before ``execute`` runs.

Only values that were templates are checked (strings containing ``{{`` or ``{%``, also
inside lists, tuples and dicts); an argument left out, or given as ``None`` or ``""``
literally, keeps its documented default.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_provider_credits.exceptions import CreditsConfigError

__all__ = ["RejectEmptyTemplates", "check_rendered", "templates_of"]


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple, dict, set)) and not value


def _walk(name: str, value: Any) -> Iterator[tuple[str, tuple[Any, ...], str]]:
    """``(label, path, template)`` for every template string in ``value`` (nested containers too)."""
    if _is_template(value):
        yield name, (), value
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            for label, path, template in _walk(f"{name}[{index}]", item):
                yield label, (index, *path), template
    elif isinstance(value, dict):
        for key, item in value.items():
            for label, path, template in _walk(f"{name}[{key!r}]", item):
                yield label, (key, *path), template


def templates_of(task: Any, fields: Any) -> dict[str, tuple[str, tuple[Any, ...], str]]:
    """The templates among ``task``'s template fields, before rendering.

    :param task: an operator or sensor.
    :param fields: names of its template fields.
    :return: ``{label: (field, path inside the field, template)}``, e.g.
        ``{"credit_pool": ("credit_pool", (), "{{ params.pool }}")}``.
    """
    found = {}
    for field in fields:
        for label, path, template in _walk(field, getattr(task, field, None)):
            found[label] = (field, path, template)
    return found


def _lookup(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (LookupError, TypeError):
            return None  # the rendered value has another shape: nothing there
    return value


def check_rendered(task: Any, templates: dict[str, tuple[str, tuple[Any, ...], str]]) -> None:
    """Raise when a template found by :func:`templates_of` rendered to nothing.

    :param task: the operator or sensor, after rendering.
    :param templates: what :func:`templates_of` returned before rendering.
    :raises CreditsConfigError: a template rendered to None, an empty or blank string, or an
        empty list/dict; the message names the task, the argument, the template and its result,
        and says what an empty value would do: fall back to the argument's default, or, for an
        argument without one (e.g. a connection id), nothing.
    """
    for label, (field, path, template) in templates.items():
        rendered = _lookup(getattr(task, field, None), path)
        if _is_empty(rendered):
            if _has_default(type(task), field):
                consequence = (
                    f"an empty {label} would silently fall back to its default. Make the template give a "
                    "value (e.g. a default in params), or leave the argument out to use the default on purpose."
                )
            else:
                consequence = (
                    f"{field} has no default, so it needs a value. Make the template give one "
                    "(e.g. a default in params)."
                )
            raise CreditsConfigError(
                f"{getattr(task, 'task_id', type(task).__name__)}: {label} is the template {template!r}, "
                f"which rendered to {rendered!r}; {consequence}"
            )


def _has_default(task_class: type, argument: str) -> bool:
    """Whether ``argument`` of the first ``__init__`` (in the MRO) that takes it has a default.

    True when no ``__init__`` names it (nothing to say it is required).
    """
    import inspect

    for klass in task_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(argument)
        if parameter is not None:
            return parameter.default is not inspect.Parameter.empty
    return True


class RejectEmptyTemplates:
    """Mixin for operators and sensors: a templated argument that renders to nothing fails the task.

    Put it before the Airflow base class: ``class MySensor(RejectEmptyTemplates, BaseSensorOperator)``.

    The check runs in ``_do_render_template_fields``, the step both ``render_template_fields``
    (plain tasks) and a mapped task's rendering (``MappedOperator.render_template_fields``
    renders the unmapped task through it, without calling the task's own
    ``render_template_fields``) go through; nested objects rendered by it are left alone.

    :raises CreditsConfigError: from rendering, see :func:`check_rendered`.
    """

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, *args: Any, **kwargs: Any
    ) -> None:
        fields = list(template_fields)
        templates = templates_of(parent, fields) if parent is self else {}
        super()._do_render_template_fields(parent, fields, *args, **kwargs)  # type: ignore[misc]
        if templates:
            check_rendered(self, templates)
