"""The bad-input manifest: one row per broken input, what to run, and what the error must say.

Every case must end with exit code 2 and exactly one line on stderr that contains the file's
name (`names`) and every string in `expect` (the key, or the step position), with no traceback
and no change to the state database.

- config cases: the corpus file (or a generated one) is the `--config` file of
  `seqsync sequence list`; no state database exists before, none may exist after.
- sequence cases: `seqsync sequence apply FILE` against a state database seeded with the active
  sequence "Cold lead outreach" (examples/sequences/cold-lead-outreach.toml).
- mapping cases: a copy of the shipped `mappings/` with one file patched, used by `seqsync sync`
  through `[sync] mappings_dir`; the CRM url is a closed loopback port, never contacted.
- sync cases: config mistakes only `seqsync sync` notices (it needs [crm] and a credential),
  made by changing keys of the otherwise valid config `run.toml` the mapping cases use.

`make` generates inputs that are not committed: "binary" (invalid UTF-8 bytes), "huge"
(megabytes, the mistake at the very end), "directory" (a folder where a file goes), "missing"
(no file at all). `transform` rewrites committed text: "bom" (UTF-8 byte order mark in front)
or "crlf" (Windows line ends); done here so no git setting can normalise them away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CORPUS = Path(__file__).parent / "corpus"
# Planted as the client secret in every run (and in one corpus file): it must never be printed.
SECRET = "badinput-throwaway-secret-5e0c9a"
Kind = Literal["config", "sequence", "mapping", "sync"]


@dataclass(frozen=True)
class Case:
    kind: Kind
    name: str  # corpus file stem, or the generated file's stem
    expect: tuple[str, ...]  # besides the file name, each must be in the error line
    make: Literal["binary", "huge", "directory", "missing"] | None = None
    transform: Literal["bom", "crlf"] | None = None
    env: dict[str, str | None] = field(default_factory=dict)  # None unsets the variable
    via_env: bool = False  # config: name the file in SEQSYNC_CONFIG instead of --config
    args: tuple[str, ...] = ()  # extra arguments after the command
    # mapping cases: (file in mappings/, exact text to replace, replacement); None = delete file
    patch: tuple[str, str, str | None] | None = None
    sync_keys: dict[str, str] = field(default_factory=dict)  # raw TOML values for [sync]
    crm_keys: dict[str, str | None] = field(default_factory=dict)  # [crm]; None drops the key
    names: str | None = None  # what the line must name, when not "<name>.toml"
    subprocess: bool = False  # also run through `python -m connector` in a child process

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def file_name(self) -> str:
        return self.names or f"{self.name}.toml"

    @property
    def corpus_file(self) -> Path | None:
        """The committed file this case reads, or None for generated and mapping cases."""
        if self.kind in ("mapping", "sync") or self.make is not None:
            return None
        return CORPUS / self.kind / self.file_name


def _config(name: str, *expect: str, **kw: object) -> Case:
    return Case("config", name, expect, **kw)  # type: ignore[arg-type]


def _seq(name: str, *expect: str, **kw: object) -> Case:
    return Case("sequence", name, expect, **kw)  # type: ignore[arg-type]


def _map(name: str, *expect: str, **kw: object) -> Case:
    return Case("mapping", name, expect, **kw)  # type: ignore[arg-type]


CONFIG_CASES = [
    _config("unknown_section", "crmm", "unknown key"),
    _config("unknown_key_in_crm", "[crm] tenant", "unknown key"),
    _config("key_outside_section", "url", "unknown key"),
    _config("crm_url_http", "[crm] url", "https", subprocess=True),
    _config("crm_url_not_a_url", "[crm] url", "https"),
    _config("crm_url_number", "[crm] url"),
    _config("authority_host_http", "[crm] authority_host", "https"),
    _config("api_version_prefixed", "[crm] api_version"),
    _config("read_timeout_negative", "[crm] read_timeout"),
    _config("max_retries_fraction", "[crm] max_retries"),
    _config("page_size_word", "[sync] page_size"),
    _config("page_size_too_big", "[sync] page_size", "5000"),
    _config("batch_size_zero", "[sync] batch_size"),
    _config("max_workers_above_limit", "[sync] max_workers", "52"),
    _config("tables_empty", "[sync] tables"),
    _config("tables_not_a_list", "[sync] tables"),
    _config("disconnect_on_close_number", "[sync] disconnect_on_close"),
    _config("log_level_unknown", "[log] level"),
    _config("log_format_unknown", "[log] format", args=("--json",)),
    # The value is the test's planted secret: the error must name the key, never echo it.
    _config("client_secret_in_file", "[crm] client_secret", "unknown key"),
    _config("section_is_a_string", "crm"),
    _config("section_is_array_of_tables", "crm"),
    _config("business_hours_end_25", "business_hours.end_hour"),
    _config("business_hours_weekday_names", "business_hours.weekdays"),
    _config("business_hours_unknown_key", "business_hours.tz", "unknown key"),
    _config("business_hours_bad_timezone", "timezone", "Mars/Olympus_Mons"),
    _config("business_hours_start_after_end", "start_hour"),
    _config("plugin_module_missing", "[plugins] load", "no_such_seqsync_plugin"),
    _config("plugin_path_without_attribute", "[plugins] load", "json"),
    _config("state_url_unknown_dialect", "[state] url", "nosuchdb"),
    _config("state_url_under_a_file", "[state] url"),
    _config("state_url_is_a_directory", "[state] url"),
    _config("state_url_driver_missing", "[state] url"),  # its password is the planted secret
    _config("engine_user_table", "[engine] user"),
    _config("syntax_unclosed_header", "line 4"),
    _config("syntax_unterminated_string", "line 5"),
    _config("syntax_duplicate_key", "line 8"),
    _config("syntax_duplicate_section", "line 9"),
    _config("syntax_control_character", "line 5"),
    _config("unicode_key", "[crm] ürl", "unknown key", subprocess=True),
    _config("newline_in_key", "[crm] ur", "unknown key"),
    _config("unicode_url_http", "[crm] url", "https"),
    _config("env_override_page_size", "SEQSYNC_SYNC__PAGE_SIZE",
            env={"SEQSYNC_SYNC__PAGE_SIZE": "0"}),
    _config("bom_unknown_key", "[crm] tenant", transform="bom", subprocess=True),
    _config("crlf_http_url", "[crm] url", transform="crlf"),
    _config("via_env_http_url", "[crm] url", via_env=True, names="crm_url_http.toml"),
    _config("binary_garbage", make="binary", subprocess=True),
    _config("huge_page_size_zero", "[sync] page_size", make="huge", subprocess=True),
    _config("missing_file", "not found", make="missing"),
    _config("missing_file_via_env", "not found", make="missing", via_env=True),
    _config("config_is_a_directory", "directory", make="directory", names="config_is_a_directory"),
]

SEQUENCE_CASES = [
    _seq("wait_31_days", "step 2", "days", subprocess=True),
    _seq("wait_negative_days", "step 2", "days"),
    _seq("wait_negative_hours", "step 2", "hours"),
    _seq("wait_24_hours", "step 2", "hours"),
    _seq("wait_zero", "step 2", args=("--json",)),
    _seq("wait_30_days_12_hours", "step 2", "30 days"),
    _seq("wait_days_enormous", "step 2", "days"),
    _seq("wait_days_text", "step 2", "days"),
    _seq("wait_days_fraction", "step 2", "days"),
    _seq("wait_hours_bool", "step 2", "hours"),
    _seq("wait_first", "step 1", "wait", subprocess=True),
    _seq("wait_last", "step 3", "wait", args=("--activate",)),
    _seq("only_waits", "step"),
    _seq("steps_empty", "step"),
    _seq("steps_empty_activate", "step", args=("--activate",), names="steps_empty.toml"),
    _seq("steps_missing", "step"),
    _seq("steps_not_tables", "step 1"),
    _seq("steps_single_table", "steps"),
    _seq("step_type_unknown", "step 3", "sms"),
    _seq("step_type_missing", "step 1", "type"),
    _seq("step_type_number", "step 1"),
    _seq("step_unknown_key", "step 1", "subject"),
    _seq("step_wait_with_template", "step 2", "template"),
    _seq("step_template_on_phonecall", "step 3", "template"),
    _seq("step_name_missing", "step 1", "name"),
    _seq("step_name_blank", "step 3", "name"),
    _seq("step_name_number", "step 1", "name"),
    _seq("step_id_number", "step 1", "id"),
    _seq("unknown_top_key", "manager"),
    _seq("name_missing", "name"),
    _seq("name_blank", "name"),
    _seq("name_number", "name"),
    _seq("description_list", "description"),
    _seq("entity_contact", "entity", "contact"),
    _seq("entity_activity_table", "entity", "email"),
    _seq("entity_missing", "entity"),
    _seq("syntax_unclosed_array_table", "line 11"),
    _seq("syntax_duplicate_key", "line 19"),
    _seq("unicode_été_☎_wait_31_days", "step 2", "days", subprocess=True),
    _seq("bom_wait_31_days", "step 2", "days", transform="bom"),
    _seq("crlf_wait_31_days", "step 2", "days", transform="crlf"),
    _seq("apply_to_active_sequence", "deactivate"),
    _seq("binary_garbage", make="binary", subprocess=True),
    _seq("huge_last_step_unknown_key", "step 10001", "subject", make="huge", subprocess=True),
    _seq("missing_file", "not found", make="missing"),
    _seq("sequence_is_a_directory", make="directory", names="sequence_is_a_directory"),
]

_LEAD_KEY = ('entity_set = "leads"', 'entityset = "leads"')

MAPPING_CASES = [
    _map("lead_unknown_key", "entityset", "unknown key", names="lead.toml",
         patch=("lead.toml", *_LEAD_KEY), subprocess=True),
    _map("lead_missing_primary_key", "primary_key", names="lead.toml",
         patch=("lead.toml", 'primary_key = "leadid"', "")),
    _map("lead_newline_in_key", "entity", "unknown key", names="lead.toml",
         patch=("lead.toml", 'entity_set = "leads"', '"entity\\nset" = "leads"')),
    _map("lead_sequence_target_text", "sequence_target", names="lead.toml",
         patch=("lead.toml", "sequence_target = true", 'sequence_target = "yes"')),
    _map("lead_logical_name_plural", "logical_name", names="lead.toml",
         patch=("lead.toml", 'logical_name = "lead"', 'logical_name = "leads"')),
    _map("lead_open_states_empty", "open_states", names="lead.toml",
         patch=("lead.toml", "open_states = [0]", "open_states = []")),
    _map("lead_states_overlap", "closed_states", names="lead.toml",
         patch=("lead.toml", "closed_states = [1, 2]", "closed_states = [0, 1, 2]")),
    _map("lead_field_column_with_space", "[fields] name", names="lead.toml",
         patch=("lead.toml", 'name = "fullname"', 'name = "Full Name"')),
    _map("lead_column_type_unknown", "[columns] companyname", names="lead.toml",
         patch=("lead.toml", 'companyname = "string"', 'companyname = "text"')),
    _map("lead_recipient_not_a_guid", "[recipient] column", names="lead.toml",
         patch=("lead.toml", 'column = "leadid"', 'column = "companyname"')),
    _map("opportunity_missing_statecode", "[fields] statecode", names="opportunity.toml",
         patch=("opportunity.toml", 'statecode = "statecode"\n', "")),
    _map("opportunity_column_type_number", "[columns] estimatedvalue", names="opportunity.toml",
         patch=("opportunity.toml", 'estimatedvalue = "float"', "estimatedvalue = 5")),
    _map("email_states_not_distinct", "[states]", names="email.toml", args=("--json",),
         patch=("email.toml", "completed = 1", "completed = 0")),
    _map("email_regarding_lead_missing", "[regarding] lead", names="email.toml",
         patch=("email.toml", 'lead = "regardingobjectid_lead_email"\n', "")),
    _map("email_subject_length_zero", "subject_max_length", names="email.toml",
         patch=("email.toml", "subject_max_length = 200", "subject_max_length = 0")),
    _map("email_reserved_constant", "constants.subject", names="email.toml",
         patch=("email.toml", "[payload.constants]", '[payload.constants]\nsubject = "x"')),
    _map("email_entity_set_unicode", "entity_set", names="email.toml",
         patch=("email.toml", 'entity_set = "emails"', 'entity_set = "émails"')),
    _map("phonecall_file_missing", "not found", names="phonecall.toml",
         patch=("phonecall.toml", "", None)),
    _map("task_invalid_toml", "line", names="task.toml",
         patch=("task.toml", "[states]", "[states")),
    _map("task_regarding_number", "[regarding] lead", names="task.toml",
         patch=("task.toml", 'lead = "regardingobjectid_lead_task"', "lead = 1")),
    _map("task_binary_garbage", make="binary", names="task.toml", subprocess=True),
    _map("lead_bom_unknown_key", "entityset", names="lead.toml", transform="bom",
         patch=("lead.toml", *_LEAD_KEY)),
    _map("opportunity_crlf_column_type", "[columns] estimatedvalue", names="opportunity.toml",
         transform="crlf",
         patch=("opportunity.toml", 'estimatedvalue = "float"', "estimatedvalue = 5")),
    _map("lead_huge_last_column_bad_type", "[columns] new_column_20000", names="lead.toml",
         make="huge"),
    _map("tables_without_mapping_file", "not found", names="contact.toml",
         sync_keys={"tables": '["lead", "opportunity", "contact"]'}),
    _map("mappings_dir_missing", "mappings_dir", names="no-such-mappings",
         sync_keys={"mappings_dir": "'no-such-mappings'"}),
]



def _sync(name: str, *expect: str, **kw: object) -> Case:
    kw.setdefault("names", "run.toml")
    return Case("sync", name, expect, **kw)  # type: ignore[arg-type]


SYNC_CASES = [
    _sync("crm_url_missing", "[crm] url", crm_keys={"url": None}),
    _sync("tenant_id_missing", "[crm] tenant_id", crm_keys={"tenant_id": None}),
    _sync("client_id_missing", "[crm] client_id", crm_keys={"client_id": None}),
    _sync("no_credential", "SEQSYNC_CLIENT_SECRET", env={"SEQSYNC_CLIENT_SECRET": None}),
    _sync("certificate_file_missing", "certificate_path", "no-such-cert.pem",
          crm_keys={"certificate_path": "'no-such-cert.pem'"},
          env={"SEQSYNC_CLIENT_SECRET": None}),
    # The secret pasted where its variable's name goes: say so without printing it.
    _sync("secret_pasted_into_client_secret_env", "[crm] client_secret_env",
          crm_keys={"client_secret_env": f"'{SECRET}'"},
          env={"SEQSYNC_CLIENT_SECRET": None}),
    _sync("tables_lists_an_activity_table", "[sync] tables", "email",
          sync_keys={"tables": '["lead", "email"]'}),
    _sync("tables_bad_logical_name", "[sync] tables", "Lead Table",
          sync_keys={"tables": '["Lead Table"]'}),
]

CASES = CONFIG_CASES + SEQUENCE_CASES + MAPPING_CASES + SYNC_CASES
