"""Holds terraform/ to the code it deploys, by parsing both without running either.

Providers cannot be downloaded here, so `terraform plan` is out of reach: these tests
read the HCL with python-hcl2, `functions/main.py` and the `instapipe` package with
`ast` and regular expressions, and check that the names, triggers, settings,
subscriptions, timeouts and roles agree with what the code does. What needs no
provider (the locals of main.tf, the variables' validations, the viewer page's
rewrite) `terraform console` evaluates for real.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from stack.pipeline import SubscriptionPolicy

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
MAIN_PY = ROOT / "functions" / "main.py"
CONFIG_PY = ROOT / "functions" / "instapipe" / "config.py"
PACKAGE = ROOT / "functions" / "instapipe"

TRIGGERS = {"http": "http", "cloud_event": "cloudevent"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
INVOKER_ROLES = {"roles/run.invoker", "roles/cloudfunctions.invoker"}
PROJECT_IAM_TYPES = {
    "google_project_iam_member",
    "google_project_iam_binding",
    "google_project_iam_policy",
}
# Project-level roles GCP offers on no narrower resource, each justified in iam.tf.
PROJECT_ROLES_WITHOUT_RESOURCE = {
    # Firestore has no IAM per database; a condition narrows it to one database.
    "roles/datastore.user",
    # Log writes are checked on the project.
    "roles/logging.logWriter",
}
PUSH_ACK_DEADLINE_MAX_S = 600
_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
_REFERENCE = re.compile(r"\bvar\.([a-z0-9_]+)")


@dataclass(frozen=True)
class Module:
    resources: dict[tuple[str, str], dict[str, Any]]
    data: dict[tuple[str, str], dict[str, Any]]
    locals: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    terraform: dict[str, Any]
    text: dict[str, str]


@cache
def module() -> Module:
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    data: dict[tuple[str, str], dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    variables: dict[str, dict[str, Any]] = {}
    terraform: dict[str, Any] = {}
    text: dict[str, str] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        text[path.name] = path.read_text()
        parsed = hcl2.loads(text[path.name], serialization_options=_OPTIONS)
        for block in parsed.get("resource", []):
            resources.update(_labelled(block))
        for block in parsed.get("data", []):
            data.update(_labelled(block))
        for block in parsed.get("locals", []):
            local_values.update(block)
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("terraform", []):
            terraform.update(block)
    return Module(resources, data, local_values, variables, terraform, text)


def _labelled(block: dict[str, Any]) -> Iterator[tuple[tuple[str, str], Any]]:
    for kind, named in block.items():
        for name, body in named.items():
            yield (kind, name), body


@cache
def entry_points() -> dict[str, str]:
    """Trigger type of each function in main.py, by its decorator."""
    found = {}
    for node in ast.parse(MAIN_PY.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Attribute)
                and isinstance(decorator.value, ast.Name)
                and decorator.value.id == "functions_framework"
                and decorator.attr in TRIGGERS
            ):
                found[node.name] = TRIGGERS[decorator.attr]
    return found


@cache
def config_reads() -> dict[str, set[str]]:
    """Environment variable names config.py reads, by the reader method used."""
    reads: dict[str, set[str]] = {"required": set(), "optional": set(), "secret": set()}
    for node in ast.walk(ast.parse(CONFIG_PY.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "reader"
            and node.func.attr in reads
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            reads[node.func.attr].add(node.args[0].value)
    return reads


@cache
def settings_defaults() -> dict[str, object]:
    """Defaults of the `Settings` dataclass in config.py, where they are literals."""
    tree = ast.parse(CONFIG_PY.read_text())
    [settings] = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "Settings"
    ]
    return {
        node.target.id: node.value.value
        for node in settings.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and isinstance(node.value, ast.Constant)
    }


def evaluate(expression: str, **names: object) -> Any:
    """A Terraform arithmetic expression, evaluated as the same Python; `names` are
    the top-level objects (`local`, `each`) as namespaces of their attributes."""
    body = expression.removeprefix("${").removesuffix("}")
    scope = {"ceil": math.ceil, "pow": pow, "max": max, "__builtins__": {}}
    return eval(body, scope, names)


def derived_timeouts(waits: dict[str, float]) -> dict[str, int]:
    """Each function's timeout as main.tf derives it from these settings."""
    busy = {
        name: evaluate(
            expression, local=SimpleNamespace(waits=SimpleNamespace(**waits))
        )
        for name, expression in module().locals["busy_s"].items()
    }
    return {
        name: max(spec["min_timeout_s"], busy.get(name, 0))
        for name, spec in module().locals["functions"].items()
    }


def function_uses(entry_point: str) -> set[str]:
    """What the modules `entry_point` reaches do, as names of `USES`."""
    text = "\n".join(
        path.read_text()
        for path in reached_modules(entry_point)
        if path.name != "config.py"
    )
    return {use for use, pattern in USES.items() if pattern.search(text)}


def reached_modules(entry_point: str) -> set[Path]:
    """The instapipe modules the body of `entry_point` in main.py calls into, and
    every module those import, at the top or inside a function."""
    [function] = [
        node
        for node in ast.parse(MAIN_PY.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name == entry_point
    ]
    names = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)}
    pending = [path for name in names if (path := module_path(name)) is not None]
    reached: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in reached:
            continue
        reached.add(path)
        pending.extend(imported_modules(path))
    return reached


def imported_modules(path: Path) -> Iterator[Path]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] != "instapipe":
                continue
            base = ".".join(parts[1:])
            if (found := module_path(base)) is not None:
                yield found
            for alias in node.names:
                name = f"{base}.{alias.name}" if base else alias.name
                if (found := module_path(name)) is not None:
                    yield found


def module_path(dotted: str) -> Path | None:
    """The file of `instapipe.<dotted>`, if it is a module of the package."""
    if not dotted:
        return None
    base = PACKAGE.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def console(workdir: Path, expression: str, **variables: object) -> str:
    """`expression` as `terraform console` evaluates it over variables.tf and the
    locals of main.tf, which need no provider."""
    main = (TERRAFORM / "main.tf").read_text()
    locals_block = main[main.index("locals {") : main.index('resource "google_')]
    (workdir / "locals.tf").write_text(
        locals_block.replace("google_pubsub_topic.stories.name", '"instapipe-stories"')
    )
    shutil.copy(TERRAFORM / "variables.tf", workdir / "variables.tf")
    required = {"google_cloud_project": "my-stories-123", "instagram_user_ids": '["1"]'}
    arguments = [
        f"-var={name}={value}" for name, value in {**required, **variables}.items()
    ]
    result = subprocess.run(
        ["terraform", "console", *arguments],
        input=expression + "\n",
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def resources_of(*kinds: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for (kind, name), body in module().resources.items():
        if kind in kinds:
            yield kind, name, body


def iam_members() -> Iterator[tuple[str, str, dict[str, Any]]]:
    kinds = {kind for kind, _ in module().resources if kind.endswith("_iam_member")}
    yield from resources_of(*kinds)


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested block, which python-hcl2 gives as a one-element list."""
    [inner] = body[name]
    return dict(inner)


def function_resource() -> dict[str, Any]:
    return module().resources[("google_cloudfunctions2_function", "function")]


def push_subscription() -> dict[str, Any]:
    return module().resources[("google_pubsub_subscription", "consumer")]


# Entry points and triggers


def test_every_deployed_function_is_an_entry_point_with_its_trigger() -> None:
    functions = module().locals["functions"]

    deployed = {name: spec["trigger"] for name, spec in functions.items()}

    assert deployed == entry_points()
    assert set(entry_points()) == {
        "fetch_stories",
        "archive_story",
        "post_to_telegram",
        "stories_json",
    }


def test_each_function_is_built_from_its_own_entry_point() -> None:
    function = function_resource()

    build = block(function, "build_config")

    assert function["for_each"] == "${local.functions}"
    assert build["entry_point"] == "${each.key}"
    assert build["runtime"] == "python311"
    assert build["service_account"] == "${google_service_account.build.id}"


def test_the_source_object_name_carries_the_zip_content_hash() -> None:
    source = module().resources[("google_storage_bucket_object", "source")]
    archive = module().data[("archive_file", "functions")]

    storage_source = block(
        block(block(function_resource(), "build_config"), "source"), "storage_source"
    )

    assert "${data.archive_file.functions.output_md5}" in source["name"]
    assert archive["source_dir"].endswith("/../functions")
    assert archive["type"] == "zip"
    assert storage_source["object"] == "${google_storage_bucket_object.source.name}"


# Environment


def test_every_environment_variable_terraform_sets_is_read_by_config() -> None:
    settings = module().locals["settings"]
    readable = config_reads()["required"] | config_reads()["optional"]

    env_names = {name.upper() for name in settings}

    assert env_names <= readable, env_names - readable
    assert all(name == name.lower() for name in settings)


def test_every_required_setting_is_always_set() -> None:
    settings = module().locals["settings"]
    variables = module().variables

    required = {name.lower() for name in config_reads()["required"]}

    assert required <= set(settings), required - set(settings)
    for name in required:
        for variable in _REFERENCE.findall(str(settings[name])):
            assert "default" not in variables[variable], (
                f"{name} is required by config.py but var.{variable} may be left unset"
            )


def test_each_setting_has_the_name_of_its_variable() -> None:
    settings = module().locals["settings"]

    misnamed = {
        name: referenced
        for name, value in settings.items()
        for referenced in _REFERENCE.findall(str(value))
        if referenced != name
    }

    assert misnamed == {}
    assert set(module().variables) >= {
        name for name, value in settings.items() if f"var.{name}" in str(value)
    }


def test_every_setting_config_reads_is_deployed() -> None:
    settings = module().locals["settings"]
    variables = module().variables
    reads = config_reads()["required"] | config_reads()["optional"]

    names = {name.lower() for name in reads}

    assert names <= set(settings), names - set(settings)
    for name in names:
        value = str(settings[name])
        assert name in variables or "var." not in value, (
            f"{name} is read by config.py but has no variable of that name"
        )


def test_every_secret_config_reads_is_a_secret_manager_secret() -> None:
    secret = module().resources[("google_secret_manager_secret", "secret")]

    assert set(module().locals["secrets"]) == config_reads()["secret"]
    assert secret["for_each"] == "${local.enabled_secrets}"
    assert secret["secret_id"] == "${each.key}"


def test_the_timeouts_use_the_codes_defaults() -> None:
    defaults = module().locals["code_defaults"]

    assert defaults == {name: settings_defaults()[name] for name in defaults}
    assert module().locals["waits"] == (
        "${{for name, value in local.code_defaults : "
        "name => coalesce(local.settings[name], value)}}"
    )
    assert module().locals["timeouts_s"] == (
        "${{for name, function in local.functions : name => "
        "max(function.min_timeout_s, lookup(local.busy_s, name, 0))}}"
    )


@pytest.mark.parametrize(
    ("changed", "telegram_s"),
    [({}, 300), ({"telegram_timeout_s": 200, "media_timeout_s": 60}, 490)],
)
def test_post_to_telegram_outlasts_a_download_and_two_bot_api_timeouts(
    changed: dict[str, float], telegram_s: int
) -> None:
    waits = {**module().locals["code_defaults"], **changed}

    timeouts = derived_timeouts(waits)

    needed_s = waits["media_timeout_s"] + 2 * waits["telegram_timeout_s"] + 30
    assert timeouts["post_to_telegram"] == telegram_s >= needed_s
    assert timeouts["post_to_telegram"] <= module().locals["max_timeout_s"]


@pytest.mark.parametrize(
    ("changed", "passes"),
    [
        ({}, True),
        ({"telegram_timeout_s": 207}, True),
        ({"telegram_timeout_s": 208}, False),
        ({"media_timeout_s": 168}, True),
        ({"media_timeout_s": 169}, False),
        ({"media_attempts": 10}, False),
        ({"instagram_timeout_s": 300}, False),
    ],
)
def test_settings_beyond_what_a_push_may_wait_fail_the_plan(
    changed: dict[str, float], passes: bool
) -> None:
    waits = {**module().locals["code_defaults"], **changed}
    [lifecycle] = function_resource()["lifecycle"]
    [precondition] = lifecycle["precondition"]

    timeouts = derived_timeouts(waits)

    results = {
        name: evaluate(
            precondition["condition"],
            each=SimpleNamespace(key=name),
            local=SimpleNamespace(
                timeouts_s=timeouts, max_timeout_s=module().locals["max_timeout_s"]
            ),
        )
        for name in timeouts
    }
    assert all(results.values()) is passes, timeouts


def test_with_the_defaults_every_timeout_fits_with_room() -> None:
    timeouts = derived_timeouts(module().locals["code_defaults"])

    assert timeouts == {
        "fetch_stories": 246,
        "archive_story": 300,
        "post_to_telegram": 300,
        "stories_json": 30,
    }


@pytest.mark.parametrize(
    "changed",
    [{}, {"telegram_timeout_s": 200, "media_backoff_s": 2.5, "media_attempts": 5}],
)
def test_terraform_derives_the_timeouts_as_modelled(
    tmp_path: Path, changed: dict[str, float]
) -> None:
    waits = {**module().locals["code_defaults"], **changed}

    answer = console(tmp_path, "jsonencode(local.timeouts_s)", **changed)

    assert json.loads(json.loads(answer)) == derived_timeouts(waits)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("instagram_batch_size", "101"),
        ("instagram_attempts", "1.5"),
        ("instagram_retry_base_s", "0"),
        ("instagram_rate_limit_backoff_s", "604801"),
        ("media_attempts", "11"),
        ("media_backoff_s", "61"),
        ("telegram_max_per_minute", "0"),
        ("instagram_api_url", "i.instagram.com"),
        ("telegram_api_url", "ftp://api.telegram.org"),
    ],
)
def test_terraform_refuses_what_config_would_refuse(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        console(tmp_path, "local.function_env", **{name: value})

    assert "Invalid value for variable" in refused.value.stderr
    assert f"var.{name}" in refused.value.stderr


def test_every_function_gets_the_one_environment_built_from_the_settings() -> None:
    service = block(function_resource(), "service_config")
    function_env = module().locals["function_env"]

    assert service["environment_variables"] == "${local.function_env}"
    assert "local.settings" in function_env
    assert "upper(name)" in function_env
    assert "if value != null" in function_env


def test_secrets_are_the_ones_config_reads_as_secrets() -> None:
    secrets = module().locals["secrets"]

    assert set(secrets) == config_reads()["secret"]


def test_no_secret_is_a_terraform_variable_or_a_plain_setting() -> None:
    secret_names = {name.lower() for name in config_reads()["secret"]}

    assert secret_names.isdisjoint(module().variables)
    assert secret_names.isdisjoint(module().locals["settings"])
    assert not list(resources_of("google_secret_manager_secret_version"))


def test_secrets_are_mounted_only_into_the_functions_that_read_them() -> None:
    secrets = module().locals["secrets"]
    service = block(function_resource(), "service_config")
    [mount] = service["dynamic"]

    dynamic = mount["secret_environment_variables"]

    assert all(set(spec["readers"]) <= set(entry_points()) for spec in secrets.values())
    assert "reader.function == each.key" in dynamic["for_each"]
    assert "local.secret_readers" in dynamic["for_each"]


def test_the_telegram_token_comes_with_its_chat_id() -> None:
    secrets = module().locals["secrets"]

    token = secrets["TELEGRAM_BOT_TOKEN"]

    assert "var.telegram_chat_id != null" in token["enabled"]
    assert module().locals["settings"]["telegram_chat_id"] == "${var.telegram_chat_id}"
    assert "post_to_telegram" in token["readers"]


# Pub/Sub


def test_every_consumer_has_a_push_subscription_with_a_dead_letter_policy() -> None:
    consumers = {
        name for name, trigger in entry_points().items() if trigger == "cloudevent"
    }
    subscription = push_subscription()

    dead_letter = block(subscription, "dead_letter_policy")
    push = block(subscription, "push_config")

    assert subscription["for_each"] == "${local.consumers}"
    assert 'function.trigger == "cloudevent"' in module().locals["consumers"]
    assert consumers == {"archive_story", "post_to_telegram"}
    assert dead_letter["dead_letter_topic"] == "${google_pubsub_topic.dead_letters.id}"
    assert dead_letter["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    assert "oidc_token" in push
    assert block(push, "oidc_token")["service_account_email"] == (
        "${google_service_account.pusher.email}"
    )
    assert subscription["enable_message_ordering"] is True
    assert "retry_policy" in subscription


def test_the_ack_deadline_covers_each_consumers_timeout() -> None:
    margin_s = module().locals["ack_margin_s"]
    max_timeout_s = module().locals["max_timeout_s"]
    [lifecycle] = function_resource()["lifecycle"]
    [precondition] = lifecycle["precondition"]

    deadline = push_subscription()["ack_deadline_seconds"]

    assert deadline == "${local.timeouts_s[each.key] + local.ack_margin_s}"
    assert block(function_resource(), "service_config")["timeout_seconds"] == (
        "${local.timeouts_s[each.key]}"
    )
    assert margin_s > 0
    assert max_timeout_s + margin_s <= PUSH_ACK_DEADLINE_MAX_S
    assert precondition["condition"] == (
        "${local.timeouts_s[each.key] <= local.max_timeout_s}"
    )


def test_dead_letters_have_a_pull_subscription_and_the_agent_may_forward() -> None:
    resources = module().resources

    pull = resources[("google_pubsub_subscription", "dead_letters")]
    publish = resources[
        ("google_pubsub_topic_iam_member", "agent_publishes_dead_letters")
    ]
    ack = resources[
        ("google_pubsub_subscription_iam_member", "agent_acks_dead_letters")
    ]

    assert pull["topic"] == "${google_pubsub_topic.dead_letters.id}"
    assert "push_config" not in pull
    assert publish["topic"] == "${google_pubsub_topic.dead_letters.id}"
    assert publish["member"] == ack["member"] == "${local.pubsub_agent}"
    assert ack["for_each"] == "${local.consumers}"
    assert ack["role"] == "roles/pubsub.subscriber"


def test_subscriptions_never_expire() -> None:
    for _, name, body in resources_of("google_pubsub_subscription"):
        assert block(body, "expiration_policy")["ttl"] == "", name


def test_the_topic_is_named_by_the_stories_topic_setting() -> None:
    topic = module().resources[("google_pubsub_topic", "stories")]

    assert topic["name"] == "${var.stories_topic}"
    assert module().locals["settings"]["stories_topic"] == (
        "${google_pubsub_topic.stories.name}"
    )
    assert module().variables["stories_topic"]["default"] == "instapipe-stories"


# Invocation and ingress


def test_only_the_api_function_allows_unauthenticated_calls() -> None:
    public_invocations = [
        body
        for _, _, body in iam_members()
        if body["member"] in PUBLIC_MEMBERS and body["role"] in INVOKER_ROLES
    ]

    targets = [body["name"] for body in public_invocations]

    assert targets == [
        '${google_cloudfunctions2_function.function["stories_json"].name}'
    ]


def test_public_grants_are_the_api_and_the_viewer_bucket_only() -> None:
    public = {
        (kind, body.get("bucket") or body.get("name"), body["role"])
        for kind, _, body in iam_members()
        if body["member"] in PUBLIC_MEMBERS
    }

    assert public == {
        (
            "google_cloud_run_v2_service_iam_member",
            '${google_cloudfunctions2_function.function["stories_json"].name}',
            "roles/run.invoker",
        ),
        (
            "google_storage_bucket_iam_member",
            "${google_storage_bucket.viewer.name}",
            "roles/storage.objectViewer",
        ),
        (
            "google_storage_bucket_iam_member",
            "${google_storage_bucket.media.name}",
            "roles/storage.legacyObjectReader",
        ),
    }


def test_the_media_bucket_is_public_only_when_the_owner_opts_out() -> None:
    grant = module().resources[
        ("google_storage_bucket_iam_member", "public_reads_media")
    ]
    opt_out = module().variables["media_public"]

    assert grant["count"] == "${var.media_public ? 1 : 0}"
    assert opt_out["type"] == "bool"
    assert opt_out["default"] is False


def test_only_the_api_function_is_reachable_from_the_internet() -> None:
    functions = module().locals["functions"]
    service = block(function_resource(), "service_config")

    public = {name for name, spec in functions.items() if spec["public"]}

    assert public == {"stories_json"}
    assert service["ingress_settings"] == (
        '${each.value.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}'
    )


def test_internal_functions_are_called_at_their_run_app_address_with_oidc() -> None:
    job = module().resources[("google_cloud_scheduler_job", "fetch")]
    target = block(job, "http_target")
    push = block(push_subscription(), "push_config")

    assert target["uri"] == (
        '${google_cloudfunctions2_function.function["fetch_stories"].service_config[0].uri}'
    )
    assert block(target, "oidc_token")["service_account_email"] == (
        "${google_service_account.scheduler.email}"
    )
    assert push["push_endpoint"] == (
        "${google_cloudfunctions2_function.function[each.key].service_config[0].uri}"
    )


def test_the_tick_waits_for_fetch_as_long_as_fetch_may_run() -> None:
    job = module().resources[("google_cloud_scheduler_job", "fetch")]

    assert job["attempt_deadline"] == "${local.timeouts_s.fetch_stories + 30}s"


def test_the_fetch_tick_runs_every_five_minutes_by_default() -> None:
    assert module().variables["fetch_schedule"]["default"] == "*/5 * * * *"


# Roles


def test_no_service_account_has_a_project_role_it_could_have_on_one_resource() -> None:
    project_roles = {
        name: body["role"] for _, name, body in resources_of(*PROJECT_IAM_TYPES)
    }

    assert set(project_roles.values()) <= PROJECT_ROLES_WITHOUT_RESOURCE, project_roles
    assert not list(
        resources_of("google_project_iam_binding", "google_project_iam_policy")
    )


def test_the_project_level_firestore_role_is_narrowed_to_the_database() -> None:
    for _, name, body in resources_of("google_project_iam_member"):
        if body["role"] == "roles/datastore.user":
            expression = block(body, "condition")["expression"]
            assert "/databases/${local.firestore_database}" in expression, name


def test_no_basic_role_is_granted() -> None:
    roles = {body["role"] for _, _, body in iam_members()}

    assert roles.isdisjoint({"roles/owner", "roles/editor", "roles/viewer"})


def test_url_signers_may_sign_only_as_themselves() -> None:
    signing = module().resources[
        ("google_service_account_iam_member", "signer_signs_as_itself")
    ]

    assert signing["for_each"] == "${toset(local.url_signers)}"
    assert signing["service_account_id"] == (
        "${google_service_account.function[each.key].name}"
    )
    assert signing["member"] == "${google_service_account.function[each.key].member}"
    assert set(module().locals["url_signers"]) <= set(entry_points())


# What the code does with which resource, found in the modules each entry point
# reaches (config.py, which only names the settings, left out).
USES = {
    "signs_urls": re.compile(r"\bsigning\.sign\("),
    "publishes": re.compile(r"\.publish\("),
    "creates_objects": re.compile(r"\.upload_from_\w+\("),
    "lists_objects": re.compile(r"\.list_blobs\("),
    "reads_objects": re.compile(r"\bblob\.open\("),
    "uses_firestore": re.compile(r"\bstore\.\w+_ref\(|\bstore\.stories_of\("),
    "reads_bot_token": re.compile(r"\.telegram_bot_token\b"),
    "reads_instagram_credential": re.compile(r"\.instagram_credential\(\)"),
}


def test_the_roles_follow_what_each_functions_code_does() -> None:
    uses = {name: function_uses(name) for name in entry_points()}
    signers = set(module().locals["url_signers"])
    readers = module().locals["secrets"]

    def doing(use: str) -> set[str]:
        return {name for name, found in uses.items() if use in found}

    assert doing("signs_urls") == signers
    assert doing("lists_objects") | doing("reads_objects") <= signers
    assert doing("creates_objects") == {
        member_function("google_storage_bucket_iam_member", "archive_creates_media")
    }
    assert doing("publishes") == {
        member_function("google_pubsub_topic_iam_member", "fetch_publishes_stories")
    }
    assert doing("uses_firestore") == set(entry_points())
    assert doing("reads_bot_token") == set(readers["TELEGRAM_BOT_TOKEN"]["readers"])
    for secret in ("INSTAGRAM_SESSIONID", "INSTAGRAM_ACCESS_TOKEN"):
        assert doing("reads_instagram_credential") == set(readers[secret]["readers"])


def test_the_code_search_finds_what_the_functions_are_known_to_do() -> None:
    archive = function_uses("archive_story")
    telegram = function_uses("post_to_telegram")
    fetch = function_uses("fetch_stories")

    assert {"signs_urls", "creates_objects", "lists_objects"} <= archive
    assert "reads_bot_token" in fetch and "reads_bot_token" in telegram
    assert "signs_urls" not in telegram


def test_the_signers_may_read_the_media_they_sign() -> None:
    read = module().resources[
        ("google_storage_bucket_iam_member", "signer_reads_media")
    ]

    assert read["for_each"] == "${toset(local.url_signers)}"
    assert read["bucket"] == "${google_storage_bucket.media.name}"
    assert read["role"] == "roles/storage.objectViewer"


def member_function(kind: str, name: str) -> str:
    member = module().resources[(kind, name)]["member"]
    match = re.fullmatch(
        r'\$\{google_service_account\.function\["(\w+)"\]\.member\}', member
    )
    assert match, member
    return match[1]


def test_every_role_binding_says_why() -> None:
    uncommented = [
        f"{file}: {line}"
        for file, text in module().text.items()
        for previous, line in zip(
            text.splitlines(), text.splitlines()[1:], strict=False
        )
        if re.match(r'resource "google_\w+_iam_member"', line)
        and not previous.startswith("#")
    ]

    assert uncommented == []


# Buckets


def test_the_media_bucket_is_private() -> None:
    media = module().resources[("google_storage_bucket", "media")]

    assert media["uniform_bucket_level_access"] is True
    assert (
        media["public_access_prevention"]
        == '${var.media_public ? "inherited" : "enforced"}'
    )
    assert media["force_destroy"] is False


def test_the_demo_page_points_at_the_deployed_api() -> None:
    page = module().resources[("google_storage_bucket_object", "viewer_page")]
    storage_locals = module().locals
    [lifecycle] = page["lifecycle"]
    [precondition] = lifecycle["precondition"]

    pattern, replacement = viewer_rewrite()

    assert page["content"] == "${local.viewer_page}"
    assert storage_locals["viewer_page_source"].endswith('/../viewer/index.html")}')
    assert "${local.stories_json_url}?user_id=${var.instagram_user_ids[0]}" in (
        replacement
    )
    assert storage_locals["stories_json_url"] == (
        '${google_cloudfunctions2_function.function["stories_json"].url}'
    )
    assert precondition["condition"] == (
        "${can(regex(local.viewer_src_pattern, local.viewer_page_source))}"
    )
    assert pattern == storage_locals["viewer_src_pattern"]


SAMPLE_PAGE = """<!doctype html>
<script src="instapipe.js" defer></script>
<img data-src="a.jpg" src="b.jpg">
<instapipe-stories data-src="keep.json" class="demo"
  src="stories.json?user_id=1111111111" autoplay></instapipe-stories>
<p>src="stories.json"</p>
"""
API_URL = (
    "https://europe-west1-my-stories-123456.cloudfunctions.net/instapipe-stories-json"
)


def test_the_viewer_rewrite_replaces_only_the_elements_src() -> None:
    pattern, replacement = viewer_rewrite()

    page = re.sub(pattern, python_replacement(replacement), SAMPLE_PAGE)

    assert page == SAMPLE_PAGE.replace(
        'src="stories.json?user_id=1111111111"',
        f'src="{API_URL}?user_id=42"',
    )


def test_the_viewer_rewrite_needs_the_element() -> None:
    pattern, _ = viewer_rewrite()

    assert re.search(pattern, SAMPLE_PAGE)
    assert not re.search(pattern, "<instapipe-stories></instapipe-stories>")
    assert not re.search(pattern, '<instapipe-stories data-src="x.json">')
    assert not re.search(pattern, '<div src="stories.json"></div>')


def test_terraform_itself_rewrites_the_sample_page(tmp_path: Path) -> None:
    pattern, replacement = viewer_rewrite()
    (tmp_path / "page.html").write_text(SAMPLE_PAGE)
    (tmp_path / "main.tf").write_text(
        "locals {\n"
        f"  viewer_src_pattern = {hcl_string(pattern)}\n"
        '  stories_json_url = "' + API_URL + '"\n'
        '  page = replace(file("page.html"), "/${local.viewer_src_pattern}/", '
        + hcl_string(replacement.replace("var.instagram_user_ids[0]", "42"))
        + ")\n}\n"
    )

    result = subprocess.run(
        ["terraform", "console"],
        input="local.page\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    expected = re.sub(pattern, python_replacement(replacement), SAMPLE_PAGE)
    assert result.stdout.strip() == f"<<EOT\n{expected}\nEOT"


def viewer_rewrite() -> tuple[str, str]:
    """The regex and the replacement of `local.viewer_page`, as written in the HCL."""
    call = module().locals["viewer_page"]
    match = re.fullmatch(
        r'\$\{replace\(local\.viewer_page_source, "/\$\{local\.viewer_src_pattern\}/", '
        r'"(?P<replacement>.*)"\)\}',
        call,
    )
    assert match, call
    return module().locals["viewer_src_pattern"], match["replacement"]


def python_replacement(replacement: str) -> str:
    """Terraform's replacement (`$${1}` groups, interpolations) for `re.sub`."""
    return (
        replacement.replace("$${1}", "\\g<1>")
        .replace("$${2}", "\\g<2>")
        .replace("${local.stories_json_url}", API_URL)
        .replace("${var.instagram_user_ids[0]}", "42")
    )


def hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Module hygiene


def test_versions_are_pinned() -> None:
    settings = module().terraform
    providers = settings["required_providers"][0]

    assert settings["required_version"] == "~> 1.11"
    assert providers["google"]["version"].startswith("~> ")
    assert providers["archive"]["version"].startswith("~> ")


@pytest.mark.parametrize("name", sorted(module().variables))
def test_every_variable_has_a_description_and_a_type(name: str) -> None:
    variable = module().variables[name]

    assert variable.get("description"), name
    assert variable.get("type"), name


def test_the_example_tfvars_sets_only_declared_non_secret_variables() -> None:
    example = hcl2.loads(
        (TERRAFORM / "terraform.tfvars.example").read_text(),
        serialization_options=_OPTIONS,
    )

    assigned = set(example)

    assert assigned <= set(module().variables), assigned - set(module().variables)
    assert {"google_cloud_project", "instagram_user_ids"} <= assigned
    assert assigned.isdisjoint(name.lower() for name in config_reads()["secret"])


def test_config_parsing_finds_the_known_settings() -> None:
    reads = config_reads()

    assert reads["required"] == {
        "GOOGLE_CLOUD_PROJECT",
        "INSTAGRAM_USER_IDS",
        "MEDIA_BUCKET",
    }
    assert {"INSTAGRAM_SESSIONID", "TELEGRAM_BOT_TOKEN"} <= reads["secret"]
    assert "TELEGRAM_CHAT_ID" in reads["optional"]


def test_local_subscriptions_deliver_as_terraforms_do() -> None:
    consumer = module().resources[("google_pubsub_subscription", "consumer")]
    attempts = module().variables["max_delivery_attempts"]["default"]
    local = SubscriptionPolicy()

    assert consumer["retry_policy"] == [
        {
            "minimum_backoff": f"{local.min_backoff_s}s",
            "maximum_backoff": f"{local.max_backoff_s}s",
        }
    ]
    assert consumer["enable_message_ordering"] is local.ordering is True
    assert attempts == local.max_delivery_attempts
