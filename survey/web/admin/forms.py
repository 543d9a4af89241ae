"""Forms of the researcher pages. All are Flask-WTF forms, so every one carries a CSRF
token (checked app-wide by :data:`survey.csrf`)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

try:  # wtforms 3.3 deprecates (value, label) tuples
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - wtforms < 3.3
    SelectChoice = None

from survey.brands import MAX_BRANDS, parse_brands
from survey.export import FORMATS
from survey.storage.store import MAX_YEAR, MIN_YEAR, SLUG_RE
from survey.storage.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, ROLES, USERNAME_RE
from survey.web.admin.i18n import _lt

MAX_INVITATIONS = 10_000  # per request


def choices(pairs) -> list:
    """Select options from ``(value, label)`` pairs, in the form this wtforms wants."""
    pairs = [(p, p) if isinstance(p, str) else p for p in pairs]
    if SelectChoice is None:
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes (rendered in a fieldset by the template)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _check_year(field) -> None:
    if field.data and not MIN_YEAR <= field.data.year <= MAX_YEAR:
        raise ValidationError(
            _lt("Choose a date between %(low)s and %(high)s.", low=MIN_YEAR, high=MAX_YEAR)
        )


class CampaignForm(FlaskForm):
    slug = StringField(
        _lt("Short name (slug)"),
        validators=[
            DataRequired(),
            Regexp(
                SLUG_RE,
                message=_lt(
                    "Use 1-64 lower-case letters, digits or '-', starting with a letter or digit."
                ),
            ),
        ],
        description=_lt("The public link becomes /s/<slug>."),
    )
    title = StringField(_lt("Title"), validators=[Optional(), Length(max=200)])
    instrument = SelectField(_lt("Instrument and version"), validators=[DataRequired()])
    period = StringField(
        _lt("Period"),
        validators=[DataRequired(), Length(max=32)],
        description=_lt("A label such as 2026-Q4."),
    )
    params = StringField(
        _lt("URL parameters"),
        validators=[Optional(), Length(max=400)],
        description=_lt("Comma-separated names, e.g. segment, channel."),
    )
    languages = MultiCheckboxField(
        _lt("Languages"), validators=[DataRequired(message=_lt("Choose at least one language."))]
    )
    opens = DateField(_lt("Opens on"), validators=[Optional()])
    closes = DateField(
        _lt("Closes after"),
        validators=[Optional()],
        description=_lt("Inclusive: the campaign closes at the end of this day (UTC)."),
    )
    min_segment_n = IntegerField(
        _lt("Minimum segment size in reports"),
        default=30,
        validators=[InputRequired(), NumberRange(min=2, max=100_000)],
    )
    brands = TextAreaField(
        _lt("Brands"),
        validators=[Optional(), Length(max=20_000)],
        description=_lt(
            "Optional. One per line, in the order respondents see them: 'acme: Acme' (one "
            "name) or 'acme: en=Acme | ru=Акме | fa=آکمه'. The questionnaire is then answered "
            "once per brand; its texts name the brand."
        ),
    )
    brands_per_respondent = IntegerField(
        _lt("Brands per respondent"),
        validators=[Optional(), NumberRange(min=1, max=MAX_BRANDS)],
        description=_lt(
            "How many of the brands they are a customer of each respondent rates, "
            "in random order. Empty: all of them."
        ),
    )

    def validate_brands(self, field) -> None:
        try:
            parse_brands(field.data or "")
        except ValueError as e:
            raise ValidationError(str(e)) from None

    def validate_brands_per_respondent(self, field) -> None:
        if field.data is None or self.brands.errors:
            return
        n = len(self.brand_list())
        if field.data > n:
            raise ValidationError(
                _lt("It cannot be more than the number of brands declared above (%(n)s).", n=n)
                if n
                else _lt("Declare the brands above first.")
            )

    def brand_list(self) -> list[dict]:
        """The declared brands (call after validation)."""
        try:
            return parse_brands(self.brands.data or "")
        except ValueError:
            return []

    def validate_opens(self, field) -> None:
        _check_year(field)

    def validate_closes(self, field) -> None:
        _check_year(field)
        if field.data and self.opens.data and field.data < self.opens.data:
            raise ValidationError(_lt("The closing date must not be before the opening date."))

    def param_names(self) -> list[str]:
        return [p.strip() for p in (self.params.data or "").split(",") if p.strip()]


class InvitationsForm(FlaskForm):
    count = IntegerField(
        _lt("Number of links"),
        default=10,
        validators=[InputRequired(), NumberRange(min=1, max=MAX_INVITATIONS)],
    )
    base_url = StringField(
        _lt("Public address of the survey"),
        validators=[
            Optional(),
            Length(max=200),
            Regexp(r"^https?://[^\s]+\Z", message=_lt("Start with http:// or https://.")),
        ],
    )


class ExportForm(FlaskForm):
    format = SelectField(_lt("Format"), choices=choices(FORMATS), default="csv")
    period = SelectField(_lt("Period"), default="")
    language = SelectField(_lt("Label language"))
    raw_formulas = BooleanField(
        _lt("Keep formula-looking text raw (csv, xlsx): for R or SPSS, not for spreadsheets"),
        description=_lt(
            "By default text starting with =, +, -, @, tab or CR gets a leading ' "
            "so that spreadsheets do not run it."
        ),
    )


def _username_field() -> StringField:
    """A new user's or a grantee's username, checked like ``survey.storage.users``."""
    return StringField(
        _lt("Username"),
        validators=[
            DataRequired(),
            Regexp(
                USERNAME_RE,
                message=_lt("2-64 letters, digits or . _ @ -, starting with a letter or digit."),
            ),
        ],
    )


class AccessForm(FlaskForm):
    """Grant or revoke one user's access to a campaign (admins)."""

    username = _username_field()
    action = SelectField(
        _lt("Action"),
        choices=choices([("grant", _lt("Grant access")), ("revoke", _lt("Revoke access"))]),
        default="grant",
    )


class CloseForm(FlaskForm):
    confirm = BooleanField(
        _lt("Yes, close this campaign: its links will accept no more answers."),
        validators=[DataRequired(message=_lt("Tick the box to confirm."))],
    )


class UserForm(FlaskForm):
    username = _username_field()
    role = SelectField(_lt("Role"), choices=choices(ROLES), default="viewer")
    password = PasswordField(
        _lt("Password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        _lt("Repeat the password"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_lt("The passwords do not match.")),
        ],
    )


class RoleForm(FlaskForm):
    role = SelectField(_lt("Role"), choices=choices(ROLES))


class DisableForm(FlaskForm):
    """Disable or enable a user (``disabled`` is 1 or 0)."""

    disabled = SelectField(choices=choices(["1", "0"]))
