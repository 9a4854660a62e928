"""What never reaches a model: secret files, `context.exclude`, and secret-looking values.

The fake secrets are assembled from pieces so that no scanner mistakes this file for a leak.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lsp_assist.config import ContextSettings, parse_settings
from lsp_assist.context.secrets import (
    PLACEHOLDER,
    SECRET_FILE_PATTERNS,
    SecretRedactor,
    excluded,
    is_secret_path,
    looks_generated,
    redact_lines,
    redact_secrets,
)

R = PLACEHOLDER

# -- secret files ------------------------------------------------------------------------------

SECRET_PATHS = [
    ".env",
    "/home/me/project/.env",
    "file:///home/me/project/.env.local",
    "config/.env.production",
    "deploy/prod.env",
    "certs/server.pem",
    "certs/server.key",
    "C:\\Users\\me\\certs\\client.p12",
    "store.pfx",
    "android/app/release.keystore",
    "keys.jks",
    "/home/me/.ssh/id_rsa",
    "/home/me/.ssh/id_rsa.pub",
    "id_ed25519",
    "id_ecdsa",
    "vault.kdbx",
    "backup.tar.gpg",
    "/home/me/.netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    "/home/me/.aws/credentials",
    "credentials.json",
    "infra/prod.tfvars",
    "terraform.tfstate",
    "config/secrets.yaml",
    "k8s/db-secret.yml",
    "client_secret_1234.json",
    "/home/me/.docker/config.json",
    "/home/me/.git-credentials",
    "/home/me/.kube/config",
    "file:///home/me/My%20Keys/id_rsa",
    "CERTS/SERVER.PEM",
]

ORDINARY_PATHS = [
    "settings.py",
    "src/env.py",
    "environment.ts",
    ".env.example",
    ".envrc.md",
    "keyboard.py",
    "monkey.js",
    "keys.py",
    "docs/secrets.md.txt/x.py",
    "config.json",
    "/home/me/project/.docker-compose.yml",
    "credentials.py",
    "tokenizer.rs",
    "file:///workspace/secret_santa.py",
]


@pytest.mark.parametrize("path", SECRET_PATHS)
def test_files_that_store_secrets_are_recognised(path: str) -> None:
    assert is_secret_path(path)


@pytest.mark.parametrize("path", ORDINARY_PATHS)
def test_source_files_are_not_secret_files(path: str) -> None:
    assert not is_secret_path(path)


def test_every_pattern_in_the_table_says_why() -> None:
    assert all(pattern and reason for pattern, reason in SECRET_FILE_PATTERNS)


@pytest.mark.parametrize(
    ("path", "glob"),
    [
        ("src/app.min.js", "*.min.js"),
        ("file:///workspace/vendor/lib/x.py", "vendor"),
        ("tests/fixtures/big.json", "fixtures/"),
        ("src/generated/api/client.ts", "src/generated/**"),
        ("/home/me/project/src/generated/a.py", "src/generated/**"),
        ("src/generated/a.py", "src/**/a.py"),
        ("docs/a/b/c.md", "docs/*"),
        ("a.py", "/a.py"),
    ],
)
def test_exclude_globs_match_like_gitignore(path: str, glob: str) -> None:
    assert excluded(path, [glob])


@pytest.mark.parametrize(
    ("path", "glob"),
    [
        ("src/app.js", "*.min.js"),
        ("src/vendored.py", "vendor"),
        ("src/fixtures.py", "fixtures/"),
        ("lib/src/generatedx/a.py", "src/generated/**"),
        ("src/a.py", "# src/a.py"),
        ("src/a.py", ""),
    ],
)
def test_exclude_globs_leave_other_files(path: str, glob: str) -> None:
    assert not excluded(path, [glob])


def test_context_settings_parse_exclude_globs_and_reject_other_shapes() -> None:
    settings, problems = parse_settings({"context": {"exclude": ["*.min.js", "vendor/"]}})
    assert settings.context.exclude == ("*.min.js", "vendor/")
    assert settings.context.enabled is True and problems == []
    settings, problems = parse_settings({"context": {"exclude": "*.min.js", "enabled": False}})
    assert settings.context == ContextSettings(enabled=False)
    assert len(problems) == 1 and "context.exclude" in problems[0]


# -- secret values -----------------------------------------------------------------------------

AWS_KEY_ID = "AKIA" + "IOSFODNN7" + "EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_" + "a1B2c3D4" * 4 + "e5F6"
JWT = ".".join(("eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", "dBjftJeZ4CVPmB92K2"))

SECRETS = [
    # (kind, text, the secret that must go)
    ("aws access key id", f'key_id = "{AWS_KEY_ID}"', AWS_KEY_ID),
    ("aws temporary key id", "ASIA" + "Y34FZKBOKMUTVV7A in the log", "ASIAY34FZKBOKMUTVV7A"),
    ("aws secret key", f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"', AWS_SECRET),
    ("github token", f"clone with {GITHUB} please", GITHUB),
    ("github fine-grained", "t = 'github_pat_" + "11ABCDEFG0" * 4 + "'", "11ABCDEFG0" * 4),
    ("gitlab", "GL = 'glpat-" + "x1y2z3" * 4 + "'", "x1y2z3" * 4),
    ("slack", "hook('xoxb-" + "1234567890-abcdefghij')", "1234567890-abcdefghij"),
    ("stripe", "stripe.api = 'sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc'", "4eC39HqLyj"),
    ("google", "maps('AIza" + "SyA1234567890abcdefghijklmnopqrstuv')", "SyA1234567890abcd"),
    ("openai", "client = OpenAI('sk-" + "proj-abc123def456ghi789jkl')", "abc123def456"),
    ("anthropic", "c = Anthropic(api='sk-ant-" + "api03-abcdEFGH1234ijkl')", "abcdEFGH1234"),
    ("jwt", f"fetch(url, {{auth: null, jwt: `{JWT}`}})", JWT),
    ("url password", "DB = 'postgres://app:" + "s3cr3tPass@db.local:5432/app'", "s3cr3tPass"),
    ("python password", 'password = "hunter2hunter2"', "hunter2hunter2"),
    ("annotated", 'db_password: str = "correct-horse"', "correct-horse"),
    ("keyword argument", 'connect(host="db", passwd="tr0ub4dor")', "tr0ub4dor"),
    ("dict key", "{'api_key': 'abc123xyz'}", "abc123xyz"),
    ("json key", '{"clientSecret": "q9w8e7r6t5"}', "q9w8e7r6t5"),
    ("yaml quoted", 'auth_token: "tok-7781"', "tok-7781"),
    ("yaml bare", "  password: hunter2", "hunter2"),
    ("dotenv", "DB_PASSWORD=hunter2", "hunter2"),
    ("shell export", "export GITHUB_TOKEN=abc123def", "abc123def"),
    ("go", 'apiKey := "k-998877"', "k-998877"),
    ("rust", 'const SECRET: &str = "s3cr3t";', "s3cr3t"),
    ("java", 'private String accessToken = "at-5566";', "at-5566"),
    ("php", "'password' => 'p4ss'", "p4ss"),
    ("comparison", 'if pwd == "letmein":', "letmein"),
    ("authorization header", 'h = {"Authorization": "Bearer a1b2c3d4e5f6g7h8i9j0k1"}', "a1b2c3"),
    ("generated key", 'cache_key = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"', "Zm9vYmFyYmF6cXV4"),
    ("salt", "SALT = 'f3a9c0d1e2b3a4958677'", "f3a9c0d1e2b3a4958677"),
]


@pytest.mark.parametrize(("kind", "text", "secret"), SECRETS, ids=[s[0] for s in SECRETS])
def test_secret_values_are_replaced_by_the_placeholder(kind: str, text: str, secret: str) -> None:
    redacted = redact_secrets(text)
    assert secret not in redacted
    assert R in redacted


def test_the_placeholder_stays_inside_the_quotes() -> None:
    assert redact_secrets('password = "hunter2hunter2"') == f'password = "{R}"'
    assert redact_secrets(f"{{'token': '{GITHUB}'}}") == f"{{'token': '{R}'}}"
    assert redact_secrets("DB_PASSWORD=hunter2 # local") == f"DB_PASSWORD={R} # local"


def test_a_private_key_block_loses_its_body_but_keeps_its_frame() -> None:
    body = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM\nxv8Yk2YnR0bbyZqg7ZbWGlc5AaTjE8w=="
    text = (
        "KEY = '''\n-----BEGIN RSA PRIVATE KEY-----\n"
        f"{body}\n-----END RSA PRIVATE KEY-----\n'''\nafter = 1\n"
    )
    assert redact_secrets(text) == (
        f"KEY = '''\n-----BEGIN RSA PRIVATE KEY-----\n{R}\n-----END RSA PRIVATE KEY-----\n'''"
        "\nafter = 1\n"
    )
    escaped = 'pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END'
    escaped += ' PRIVATE KEY-----\\n"'
    assert "MIIEvQ" not in redact_secrets(escaped)
    cut_off = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAA\nb3Blbn"
    assert redact_secrets(cut_off) == f"-----BEGIN OPENSSH PRIVATE KEY-----\n{R}"


CODE_WITHOUT_SECRETS = [
    "password = getpass()",
    "    password=password,",
    "password: str",
    "token: Optional[str] = None",
    'password = ""',
    'password = os.environ["DB_PASSWORD"]',
    'token_url = "https://oauth2.googleapis.com/token"',
    'TOKEN_TYPE = "bearer-x"',
    'AUTH_USER_MODEL = "accounts.User"',
    'label = "Enter your password"',
    'password_help = "At least 8 characters"',
    'api_key = "${API_KEY}"',
    'api_key = "<your-api-key>"',
    'password = "********"',
    'PRIVATE_KEY = "/etc/ssl/private/server.key"',
    "secret = settings.SECRET",
    'author = "Jane Doe"',
    'tokenizer = "bert-base-uncased"',
    'bypass = "proxy1"',
    'cache_key = "user:profile:v2:settings"',
    'key = "name"',
    "for token in tokens:",
    'task-runner --disk-usage-reporting-interval=10 "sk-learn"',
    "git clone https://github.com/org/repo.git",
    "If the token is missing, auth fails: see https://docs.example.com/auth#tokens.",
    "pass",
]


@pytest.mark.parametrize("text", CODE_WITHOUT_SECRETS)
def test_code_without_a_secret_is_left_as_it_is(text: str) -> None:
    assert redact_secrets(text) == text


def test_redaction_is_deterministic_and_idempotent() -> None:
    text = "\n".join(s[1] for s in SECRETS)
    once = redact_secrets(text)
    assert SecretRedactor().redact(text) == once
    assert redact_secrets(once) == once


def test_every_rule_but_key_blocks_works_line_by_line() -> None:
    # What lets the redactor remember lines: a text's answer is its lines' answers.
    text = "\n".join([s[1] for s in SECRETS] + CODE_WITHOUT_SECRETS)
    assert redact_lines(text) == "\n".join(redact_lines(line) for line in text.split("\n"))


def test_remembered_lines_give_the_same_answer_as_a_fresh_look() -> None:
    redactor = SecretRedactor()
    prompt = "x = 1\npassword = 'hunter2'\n" + "def f():\n    return 2\n" * 20 + "y = "
    assert redactor.redact(prompt) == redact_lines(prompt)
    # Typing at the end, editing in the middle, and a new secret at the end.
    for text in (prompt + "f(", "z = 0\n" + prompt, prompt + "token = 'abc123'"):
        assert redactor.redact(text) == redact_lines(text)


def test_entropy_separates_generated_from_written_values() -> None:
    assert looks_generated("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5")
    assert looks_generated("a8f5f167f44f4964e6c998dee827110c")
    assert not looks_generated("user_profile_settings_v2")
    assert not looks_generated("aaaaaaaaaaaaaaaaaaaaaaaa1")
    assert not looks_generated("short1")


def test_a_prompt_without_secrets_costs_little_per_keystroke() -> None:
    """Measured, not asserted tightly (shared machines vary): typing at the end of a 16 kB
    prompt of this project's own code, against the other pass every prompt already takes."""
    from lsp_assist.positions import without_lone_surrogates

    package = Path(__file__).parents[2] / "lsp_assist"
    source = "".join(p.read_text() for p in sorted(package.rglob("*.py")))
    prompt = source[:16_000]
    redactor = SecretRedactor()
    assert redactor.redact(prompt) == prompt
    started = time.perf_counter()
    for i in range(200):
        redactor.redact(prompt + "x" * i)
    per_call = (time.perf_counter() - started) / 200
    started = time.perf_counter()
    for i in range(200):
        without_lone_surrogates(prompt + "x" * i)
    baseline = (time.perf_counter() - started) / 200
    assert per_call < max(3 * baseline, 200e-6), (per_call, baseline)
