"""A role's checks of its own values as one filter, for the role's validate
entry point (roles/<role>/tasks/validate.yml), which runs them before
preflight checks the types."""


def role_checks(role, *checks):
    """A role's checks as one filter. Its validate entry point runs them
    before preflight's check of the types: a value of the wrong type can
    break a check, which then says so instead of failing the task (the types
    check, which comes first, names that value)."""
    def errors(settings):
        try:
            return [error for check in checks for error in check(settings)]
        except (AttributeError, TypeError, ValueError) as exc:
            return [f"The {role} role's values could not be checked ({exc}): see the check of the types."]
    return errors
