import re

from django import forms
from django.conf import settings
from django.utils.text import slugify

from accounts.validators import lines_of_text, single_line
from pickaxes import chat
from pickaxes.models import MAX_STARTERS, InputField, Pickaxe
from pickaxes.services import field_max_chars, prompt_size_problem, template_problems


class PickaxeForm(forms.ModelForm):
    model = forms.ChoiceField(choices=())
    slug = forms.SlugField(
        required=False, max_length=90, help_text="The address: /p/<slug>/. Leave empty to make one from the name."
    )

    class Meta:
        model = Pickaxe
        fields = [
            "kind",
            "name",
            "slug",
            "description",
            "visibility",
            "system_instructions",
            "prompt_template",
            "opening_message",
            "starters",
            "model",
            "temperature",
            "max_output_tokens",
        ]
        widgets = {
            "kind": forms.RadioSelect(attrs={"data-kind-choice": ""}),
            "system_instructions": forms.Textarea(attrs={"rows": 4}),
            "prompt_template": forms.Textarea(attrs={"rows": 6}),
            "opening_message": forms.Textarea(attrs={"rows": 3}),
            "starters": forms.Textarea(
                attrs={"rows": 4, "placeholder": "Quiz me on French verbs\nExplain photosynthesis"}
            ),
            "description": forms.TextInput(),
        }
        labels = {"kind": "Kind", "starters": "Suggested first messages"}

    # Which fields the editor shows for each kind (the others are shared).
    FORM_ONLY = ("prompt_template",)
    CHAT_ONLY = ("opening_message", "starters")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        models = list(settings.PICKAXE_MODELS)
        if self.instance.pk and self.instance.model not in models:
            models.append(self.instance.model)  # keep a model that left the allow-list
        self.fields["model"].choices = [(name, name) for name in models]
        self.fields["kind"].required = False  # not posted: the kind it was (a new one: a form)
        if self.instance.pk:
            self.fields["kind"].help_text = "Switching keeps what the other kind uses, for when you switch back."

    MODEL_SETTINGS = ("model", "temperature", "max_output_tokens")

    def about_fields(self):
        """What both kinds have, before the kind's own fields: the name to the instructions."""
        skip = (*self.FORM_ONLY, *self.CHAT_ONLY, *self.MODEL_SETTINGS, "kind")
        return [self[name] for name in self.fields if name not in skip]

    def model_fields(self):
        return [self[name] for name in self.MODEL_SETTINGS]

    def form_only_fields(self):
        return [self[name] for name in self.FORM_ONLY]

    def chat_only_fields(self):
        return [self[name] for name in self.CHAT_ONLY]

    def is_chat(self):
        """The kind chosen (posted, or saved): what the editor shows first."""
        kind = self.data.get("kind") if self.is_bound else None
        return (kind or self.instance.kind) == Pickaxe.Kind.CHAT

    def clean_kind(self):
        return self.cleaned_data.get("kind") or self.instance.kind or Pickaxe.Kind.FORM

    def clean_starters(self):
        starters = [line.strip() for line in self.cleaned_data.get("starters", "").splitlines() if line.strip()]
        if len(starters) > MAX_STARTERS:
            raise forms.ValidationError(f"At most {MAX_STARTERS} suggested first messages, one per line.")
        if any(len(line) > 200 for line in starters):
            raise forms.ValidationError("Keep each suggested first message under 200 characters.")
        return "\n".join(starters)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == Pickaxe.Kind.FORM and not (cleaned.get("prompt_template") or "").strip():
            self.add_error("prompt_template", "A form needs a prompt template.")
        return cleaned

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name", ""))[:80]
        if not slug:
            raise forms.ValidationError("Give the pickaxe a name or an address.")
        taken = Pickaxe.objects.filter(slug=slug).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"The address /p/{slug}/ is taken; choose another.")
        return slug


class InputFieldForm(forms.ModelForm):
    class Meta:
        model = InputField
        fields = [
            "label",
            "key",
            "kind",
            "required",
            "max_length",
            "min_value",
            "max_value",
            "choices",
            "help_text",
            "position",
        ]
        widgets = {
            "choices": forms.Textarea(attrs={"rows": 3, "placeholder": "Friendly\nFormal\nPlayful"}),
            "position": forms.HiddenInput(attrs={"data-position": ""}),
        }
        labels = {"choices": "Choices, one per line"}
        help_texts = {
            "choices": "Each line is one option people pick from; at least two.",
            "max_length": "The most characters people may type (short and long text).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].required = False
        self.fields["key"].help_text = "Used in the template as {{key}}. Leave empty to make one from the label."

    def clean_key(self):
        key = self.cleaned_data.get("key") or key_from_label(self.cleaned_data.get("label") or "")
        if not key:
            raise forms.ValidationError("Give the field a key: lowercase letters, digits and underscores.")
        return key

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == InputField.Kind.CHOICE:
            options = [line.strip() for line in (cleaned.get("choices") or "").splitlines() if line.strip()]
            if len(options) < 2:
                self.add_error("choices", "A choice needs at least two options, one per line.")
        low, high = cleaned.get("min_value"), cleaned.get("max_value")
        if low is not None and high is not None and low > high:
            self.add_error("max_value", "The largest number must not be below the smallest.")
        return cleaned


def key_from_label(label):
    """A field's key made from its label, as the studio's editor fills it in: "Your topic"
    → "your_topic", "2nd idea" → "field_2nd_idea"; "" when the label has no letter or digit."""
    key = re.sub(r"[^a-z0-9]+", "_", slugify(label)).strip("_")
    if key and not key[0].isalpha():
        key = f"field_{key}"
    return key[: InputField._meta.get_field("key").max_length].rstrip("_")


class BaseFieldsFormSet(forms.BaseInlineFormSet):
    def clean(self):
        self.keys = [
            form.cleaned_data["key"]
            for form in self.forms
            if form.cleaned_data.get("key") and not form.cleaned_data.get("DELETE")
        ]
        duplicates = sorted({key for key in self.keys if self.keys.count(key) > 1})
        if duplicates:
            raise forms.ValidationError("Two fields have the same key: " + ", ".join(duplicates) + ".")
        super().clean()


FieldsFormSet = forms.inlineformset_factory(
    Pickaxe,
    InputField,
    form=InputFieldForm,
    formset=BaseFieldsFormSet,
    extra=0,
    can_delete=True,
    max_num=20,
    validate_max=True,
)


class PickaxeEditor:
    """The pickaxe form and its fields formset, validated together (template ↔ keys)."""

    def __init__(self, data=None, *, instance=None):
        instance = instance or Pickaxe()
        self.form = PickaxeForm(data, instance=instance)
        self.fields = FieldsFormSet(data, instance=instance, prefix="fields")
        self.problems = []

    def is_valid(self):
        """Valid as the kind chosen: a form with its fields and template; a chat without them
        (its fields and template are kept as they were, unchecked, for a switch back)."""
        if not self.form.is_valid():
            self.fields.is_valid()  # its errors shown too, for a form
            return False
        if self.is_chat:
            return True
        if not self.fields.is_valid():
            return False
        self.problems = template_problems(self.form.cleaned_data["prompt_template"], self.fields.keys)
        return not self.problems

    @property
    def is_chat(self):
        return self.form.is_chat()

    def saved_fields(self):
        """The fields formset to save with the pickaxe: None for a chat (its fields stay
        as they were)."""
        return None if self.is_chat else self.fields


# Where a run form keeps each input: `input:<key>`, never the bare key. A key is whatever
# the creator typed, and a bare one would take the place of the form's own names: its
# `pickaxe`, its `submission_key`, or what a template reads from it (`form.errors`,
# `form.visible_fields`: a template looks a name up as a field first).
INPUT = "input:"
# What a run page posts beside the inputs: the submission key, the studio's test mode, the
# embed's token and Django's CSRF token. An input whose key is one of them is posted under
# `input-<key>` instead (a key has no hyphen), so it never takes their place.
PAGE_POST_NAMES = frozenset({"submission_key", "mode", "embed_token", "csrfmiddlewaretoken"})


def input_name(key):
    """The name the input of the field `key` is posted under: the key, unless the page posts that name itself."""
    return f"input-{key}" if key in PAGE_POST_NAMES else key


class RunForm(forms.Form):
    """The inputs of one run of `pickaxe` (run_form_class makes one class per pickaxe).

    `inputs` (initial values by field key) and `run_inputs` speak in field keys; the form's
    own fields are named `INPUT + key` and posted as `input_name(key)`. `initial` may mix
    both, as before: there "submission_key" is always the form's own."""

    pickaxe = None

    def __init__(self, data=None, *args, initial=None, inputs=None, **kwargs):
        initial = dict(initial or {})
        for field in self.pickaxe.input_fields:
            if field.key in initial and field.key != "submission_key":
                initial[INPUT + field.key] = initial.pop(field.key)
            if inputs and field.key in inputs:
                initial[INPUT + field.key] = inputs[field.key]
        super().__init__(data, *args, initial=initial, **kwargs)

    def add_prefix(self, field_name):
        if field_name.startswith(INPUT):
            field_name = input_name(field_name.removeprefix(INPUT))
        return super().add_prefix(field_name)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            problem = prompt_size_problem(self.pickaxe.prompt_template, run_inputs(cleaned))
            if problem:
                raise forms.ValidationError(problem, code="prompt_too_long")
        return cleaned

    def errors_by_key(self):
        """The errors by field key ("__all__": the form's own), as the API names them."""
        return {name.removeprefix(INPUT): messages for name, messages in self.errors.items()}


class ChatMessageForm(forms.Form):
    """One message sent in a chat: its text, its conversation (a public id; empty: a new
    one) and its submission key (one per message, so a repeated post is charged once)."""

    message = forms.CharField(
        label="Your message",
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Type a message", "data-chat-input": ""}),
        validators=[lines_of_text],
        error_messages={"required": "Type a message first."},
    )
    conversation = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)
    submission_key = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{16,64}$",
        widget=forms.HiddenInput,
        error_messages={"invalid": "Reload the page and try again."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["message"].widget.attrs["maxlength"] = settings.RUN_INPUT_MAX_CHARS

    def clean_message(self):
        text = self.cleaned_data["message"]
        problem = chat.message_problem(text)
        if problem:
            raise forms.ValidationError(problem, code="message_too_long")
        return text


def run_inputs(cleaned_data):
    """The inputs as a run stores them and the prompt receives them: text, by field key (an
    optional number left empty is "", not "None")."""
    return {
        name.removeprefix(INPUT): "" if value is None else str(value)
        for name, value in cleaned_data.items()
        if name.startswith(INPUT)
    }


def number_field(field, options):
    """A number input within the field's bounds: checked on the server, and shown in the
    form (the input's min and max, and the range under it when it has no help text)."""
    low, high = field.min_value, field.max_value
    if not options["help_text"] and (low is not None or high is not None):
        if low is not None and high is not None:
            options["help_text"] = f"From {_plain(low)} to {_plain(high)}."
        elif low is not None:
            options["help_text"] = f"At least {_plain(low)}."
        else:
            options["help_text"] = f"At most {_plain(high)}."
    number = forms.DecimalField(min_value=low, max_value=high, max_digits=20, decimal_places=6, **options)
    number.widget.attrs.update(
        {name: _plain(value) for name, value in (("min", low), ("max", high)) if value is not None}, step="any"
    )
    return number


def _plain(number):
    """50.0000 as 50, 0.5000 as 0.5: how a person writes it."""
    return f"{number.normalize():f}"


def run_form_class(pickaxe):
    """A form class for running `pickaxe`: one form field per input field, in order."""
    form_fields = {}
    for field in pickaxe.input_fields:
        options = {"label": field.label, "required": field.required, "help_text": field.help_text}
        if field.kind == InputField.Kind.NUMBER:
            form_fields[INPUT + field.key] = number_field(field, options)
        elif field.kind == InputField.Kind.CHOICE:
            choices = [(choice, choice) for choice in field.choice_list()]
            if not field.required:
                choices = [("", "—")] + choices
            form_fields[INPUT + field.key] = forms.ChoiceField(choices=choices, **options)
        else:
            long = field.kind == InputField.Kind.LONG_TEXT
            form_fields[INPUT + field.key] = forms.CharField(
                max_length=field_max_chars(field.max_length),
                widget=forms.Textarea(attrs={"rows": 5}) if long else None,
                validators=[lines_of_text if long else single_line],
                strip=True,
                **options,
            )
    form_fields["submission_key"] = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{16,64}$",
        widget=forms.HiddenInput,
        error_messages={"invalid": "Reload the page and try again."},
    )
    return type("RunForm", (RunForm,), {"pickaxe": pickaxe, **form_fields})


# What a sample run types into each kind of text field (cut to the field's length).
SAMPLE_TEXT = {InputField.Kind.SHORT_TEXT: "the sea", InputField.Kind.LONG_TEXT: "A few words about the sea."}


def sample_inputs(pickaxe):
    """Inputs `pickaxe`'s run form takes, by field key, for an example to copy: a choice's
    first option, a number within the bounds, a short text within the length."""
    inputs = {}
    for field in pickaxe.input_fields:
        if field.kind == InputField.Kind.CHOICE:
            inputs[field.key] = (field.choice_list() or [""])[0]
        elif field.kind == InputField.Kind.NUMBER:
            number = 10
            if field.max_value is not None:
                number = min(number, field.max_value)
            if field.min_value is not None:
                number = max(number, field.min_value)
            inputs[field.key] = int(number) if number == int(number) else float(number)
        else:
            inputs[field.key] = SAMPLE_TEXT[field.kind][: field_max_chars(field.max_length)]
    return inputs
