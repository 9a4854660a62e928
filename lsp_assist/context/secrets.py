"""What must never reach a model: secret files, excluded files and secret-looking values.

Three questions, answered without reading anything from disk:

* `is_secret_path(path)`: is this a file that stores secrets (`.env`, a private key, a
  keystore, a credentials file …)? Such a file is never read into the index, a prompt or a
  completion, even when it is open in the editor. The table is `SECRET_FILE_PATTERNS`.
* `excluded(path, globs)`: does the user's `context.exclude` leave this file out?
* `redact_secrets(text)`: `text` with every secret-looking value replaced by `PLACEHOLDER`.
  It runs on everything sent to a model (the backends' one boundary), so context files, the
  current window and review prompts are all covered. A value inside a string literal is
  replaced inside its quotes, so the code around it still parses.

`redact_secrets` is deterministic (the same text always gives the same prompt, so the model's
prompt cache keeps working) and local (only the secret's characters change). It runs on every
prompt, per keystroke: each rule runs only when one of its cheap literal markers occurs in
the text, so text without secrets costs a few substring scans.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

PLACEHOLDER = "<redacted>"

# -- secret files ------------------------------------------------------------------------------

SECRET_FILE_PATTERNS: tuple[tuple[str, str], ...] = (
    # (glob on the file name, or on the path's tail when it holds a "/"; why it is secret)
    (".env", "dotenv: environment variables, typically API keys and passwords"),
    (".env.*", "dotenv variants (.env.local, .env.production …)"),
    ("*.env", "named dotenv files (prod.env)"),
    (".envrc", "direnv: exported variables"),
    ("*.pem", "PEM: private keys and certificates"),
    ("*.key", "private keys"),
    ("*.p8", "PKCS#8 private keys (App Store Connect, APNs)"),
    ("*.p12", "PKCS#12 key stores"),
    ("*.pfx", "PKCS#12 key stores"),
    ("*.jks", "Java key stores"),
    ("*.keystore", "Java / Android key stores"),
    ("*.kdbx", "KeePass databases"),
    ("*.gpg", "GnuPG-encrypted files and keyrings"),
    ("*.asc", "ASCII-armoured PGP keys and messages"),
    ("*.ppk", "PuTTY private keys"),
    ("*.ovpn", "OpenVPN profiles with embedded keys"),
    ("id_rsa*", "SSH keys"),
    ("id_dsa*", "SSH keys"),
    ("id_ecdsa*", "SSH keys"),
    ("id_ed25519*", "SSH keys"),
    ("ssh_host_*_key", "SSH host keys"),
    (".netrc", "machine logins and passwords"),
    ("_netrc", "machine logins and passwords (Windows)"),
    (".pgpass", "PostgreSQL passwords"),
    (".my.cnf", "MySQL client passwords"),
    (".npmrc", "npm registry tokens"),
    (".yarnrc.yml", "Yarn registry tokens"),
    (".pypirc", "PyPI upload tokens"),
    (".gem/credentials", "RubyGems API key"),
    (".git-credentials", "Git's stored credentials"),
    (".htpasswd", "web server password hashes"),
    ("credentials", "cloud CLI credentials (.aws/credentials and others)"),
    ("credentials.json", "Google and other OAuth client credentials"),
    ("credentials.yml.enc", "Rails encrypted credentials"),
    ("*.tfvars", "Terraform variables (usually provider secrets)"),
    ("*.tfstate", "Terraform state (holds every resource's secrets)"),
    ("*.tfstate.backup", "Terraform state backups"),
    ("secrets.*", "secrets.yaml, secrets.json, secrets.toml …"),
    ("*secret*.json", "service account and client secret files"),
    ("*secret*.yaml", "Kubernetes secrets and the like"),
    ("*secret*.yml", "Kubernetes secrets and the like"),
    ("service-account*.json", "Google service account keys"),
    (".aws/credentials", "AWS CLI credentials"),
    (".aws/config", "AWS CLI profiles (may hold keys)"),
    (".docker/config.json", "Docker registry auth"),
    (".kube/config", "Kubernetes credentials"),
    (".config/gh/hosts.yml", "GitHub CLI token"),
    (".azure/*", "Azure CLI tokens"),
    (".gnupg/*", "GnuPG keyrings"),
    (".ssh/*", "SSH keys and known hosts"),
)
"""Files that store secrets. A pattern without "/" matches the file name (case-insensitive);
one with "/" matches the last components of the path, so ".aws/credentials" matches
"/home/me/.aws/credentials". Matched with `fnmatch` rules: `*` is any run of characters."""

_NAME_PATTERNS = tuple(p.lower() for p, _ in SECRET_FILE_PATTERNS if "/" not in p)
_TAIL_PATTERNS = tuple(p.lower() for p, _ in SECRET_FILE_PATTERNS if "/" in p)
_NOT_SECRET_NAMES = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist"})


def _path_of(path: str) -> PurePosixPath:
    """The POSIX path of a plain path (either slash) or of a URI (`file:///…`)."""
    if "://" in path:
        path = unquote(urlsplit(path).path)
    return PurePosixPath(path.replace("\\", "/"))


def is_secret_path(path: str) -> bool:
    """Whether `path` (a path or a URI) names a file that stores secrets
    (`SECRET_FILE_PATTERNS`). Templates such as `.env.example` are not secret."""
    posix = _path_of(path)
    name = posix.name.lower()
    if not name or name in _NOT_SECRET_NAMES:
        return False
    if any(fnmatchcase(name, pattern) for pattern in _NAME_PATTERNS):
        return True
    parts = [part.lower() for part in posix.parts]
    for pattern in _TAIL_PATTERNS:
        depth = pattern.count("/") + 1
        if len(parts) >= depth and fnmatchcase("/".join(parts[-depth:]), pattern):
            return True
    return False


def excluded(path: str, globs: Iterable[str]) -> bool:
    """Whether `path` (workspace-relative, absolute or a URI) matches a `context.exclude` glob.

    Gitignore-like: a glob without "/" matches any file or folder name on the path
    ("*.min.js", "vendor", "generated"); a glob with "/" matches from the start of a relative
    path or, for an absolute path, any run of its trailing components ("src/gen/*.py",
    "docs/**"); `**` matches any number of folders; a trailing "/" matches a folder and all
    below it. `*` and `?` follow `fnmatch` and, unlike in Git, may cross "/" in a glob with "/"
    (so "docs/*" covers the whole folder). Case-sensitive, as on Linux.
    """
    parts = [part for part in _path_of(path).parts if part != "/"]
    for glob in globs:
        glob = glob.strip()
        if not glob or glob.startswith("#"):
            continue
        if glob.endswith("/"):
            glob += "**"
        glob = glob.lstrip("/")
        if "/" not in glob:
            if any(fnmatchcase(part, glob) for part in parts):
                return True
            continue
        # "a/**/b" also matches "a/b"; "a/**" also matches "a" itself.
        variants = {glob, glob.replace("/**/", "/"), glob.removesuffix("/**")}
        for start in range(len(parts)):
            tail = "/".join(parts[start:])
            if any(fnmatchcase(tail, variant) for variant in variants):
                return True
    return False


# -- secret values -----------------------------------------------------------------------------


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution (0 for "", ~4–6 for keys)."""
    if not text:
        return 0.0
    counts = Counter(text).values()
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts)


HIGH_ENTROPY_BITS = 3.5
"""A literal of at least `HIGH_ENTROPY_LENGTH` characters drawn from a key alphabet (letters,
digits, `+/=_-`), with letters and digits, mixed case or many digits, and over this many bits
per character, looks generated (a key, a token), not written."""
HIGH_ENTROPY_LENGTH = 20
_KEY_ALPHABET = re.compile(r"[A-Za-z0-9+/=_\-]+")


def looks_generated(value: str) -> bool:
    if len(value) < HIGH_ENTROPY_LENGTH or _KEY_ALPHABET.fullmatch(value) is None:
        return False
    digits = sum(c.isdigit() for c in value)
    if not digits or digits == len(value):
        return False
    # Random text mixes cases (base64) or is digit-rich (hex, base36); a written name with a
    # version number ("user_profile_settings_v2") is neither.
    mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
    if not mixed_case and digits < len(value) / 5:
        return False
    return shannon_entropy(value) >= HIGH_ENTROPY_BITS


Span = tuple[int, int]

# -- secret by shape ---------------------------------------------------------------------------
# Each pattern starts with literal characters (so `re` skips ahead quickly) and runs only when
# one of its markers occurs in the text; the word boundary before it is checked in code.

_TOKENS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    (  # AWS access key ids (AKIA…) and temporary ones (ASIA…)
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA", "A3T"),
        re.compile(
            r"(?:A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)"
            r"[A-Z0-9]{16}(?![A-Za-z0-9])"
        ),
    ),
    (  # GitHub tokens: personal, OAuth, user-to-server, server-to-server, refresh
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"gh[pousr]_[A-Za-z0-9]{30,255}(?![A-Za-z0-9])"),
    ),
    (("github_pat_",), re.compile(r"github_pat_[A-Za-z0-9_]{22,255}")),
    (("glpat-",), re.compile(r"glpat-[A-Za-z0-9_\-]{20,}")),  # GitLab
    (("xox",), re.compile(r"xox[abposr]-(?=[A-Za-z\-]*\d)[A-Za-z0-9\-]{10,}")),  # Slack
    (("k_live_", "k_test_"), re.compile(r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,}")),  # Stripe
    (("AIza",), re.compile(r"AIza[0-9A-Za-z_\-]{35}")),  # Google API keys
    (  # OpenAI / Anthropic-style keys (with a digit, so kebab-case names stay)
        ("sk-",),
        re.compile(r"sk-(?:ant-|proj-|svcacct-|admin-)?(?=[A-Za-z_\-]*\d)[A-Za-z0-9_\-]{20,}"),
    ),
    (("eyJ",), re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")),
    (("npm_",), re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    (("pypi-",), re.compile(r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}")),
    (("hooks.slack.com",), re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+")),
)

# Private-key blocks: PEM (RSA, EC, DSA, OPENSSH, ENCRYPTED, PKCS#8) and PGP. The body goes, the
# BEGIN and END lines stay. Without its END line (a window cut it off), the base64 after the
# header goes: lines of it, and a last fragment where the text (or a prompt's file) ends.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<kind>(?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----"
    r"(?P<body>[\s\S]{0,20000}?(?=-----END (?P=kind)PRIVATE KEY)"
    r"|(?:(?:\s|\\[nr]|[\"'`+,])*"
    r"(?:[A-Za-z0-9+/=]{16,}|[A-Za-z0-9+/=]+(?=\Z|<)|[A-Z][\w-]*: [^\n\\]*))*)"
)
_BLOCK_EDGE = re.compile(r"(?:\s|\\[nr]|[\"'`+,])+")

# `scheme://user:password@host`: the password goes (database URLs, git remotes, proxies).
_URL_CREDENTIALS = re.compile(r"[^\s:/@'\"`<>]+:(?P<password>[^\s/@'\"`<>]+)@")


def _key_block_spans(text: str) -> Iterable[Span]:
    for match in _PRIVATE_KEY.finditer(text):
        start, end = match.span("body")
        if edge := _BLOCK_EDGE.match(text, start, end):
            start = edge.end()
        while end > start and (text[end - 1].isspace() or text[end - 1] in "\"'`+,"):
            end -= 1
        if text.endswith(("\\n", "\\r"), start, end):
            end -= 2
        if end > start:
            yield start, end


def _token_spans(text: str) -> Iterable[Span]:
    for markers, pattern in _TOKENS:
        if not any(marker in text for marker in markers):
            continue
        for match in pattern.finditer(text):
            start = match.start()
            if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
                yield start, match.end()
    at = text.find("://")
    while at >= 0:
        if credentials := _URL_CREDENTIALS.match(text, at + 3):
            yield credentials.span("password")
        at = text.find("://", at + 3)


# -- secret by name ----------------------------------------------------------------------------
# A name *ending* in one of these words says its value is secret (`db_password`, `apiKey`,
# `AWS_SECRET_ACCESS_KEY`, `"Authorization"`); `token_url` and `author` do not.

_STEMS = (
    *("pass", "pwd", "secret", "token", "key", "credential", "auth", "bearer"),
    *("salt", "signature", "cookie", "dsn", "nonce", "hmac"),
)
_STEM_FINDER = re.compile("|".join(f"{stem}|{stem.upper()}|{stem.capitalize()}" for stem in _STEMS))
_SECRET_WORD = re.compile(
    r"(?i)(?:(?P<strong>passw(?:or)?d|passphrase|pass|pwd|secret|token|credential|auth"
    r"|authorization|bearer)|(?P<key>key)|(?P<keyish>salt|signature|cookie|dsn|nonce|hmac))s?"
    r"(?![A-Za-z0-9])"
)
# Words before "key" that make it a secret's name (`api_key`, `privateKey`, `SECRET_KEY`);
# another key (`cache_key`, `key`) is secret only when its value looks generated.
_SECRET_KEY_QUALIFIER = re.compile(
    r"(?i)(?:api|access|private|secret|signing|encryption|master|auth|session|client|license"
    r"|account|app|consumer|subscription|webhook)[_\-.]?\Z"
)
# Between a name and its literal: the closing quote or bracket of a quoted key, an optional
# type annotation (`: str`, `: &str`, `: Option<String>`), then any language's "is": = : :=
# => == != === ?= ||=.
_OPERATOR_LITERAL = re.compile(
    r"""["'`]?\]?(?:[ \t]*:[ \t]*[A-Za-z_&*][\w\[\]&*'<>.|, \t]{0,40}?)?"""
    r"[ \t]*(?:=>|:=|===|!==|==|!=|\?=|\|\|=|=|:)[ \t]*"
    r"""(?:[rRbBuUfF]{1,2})?(?P<q>["'`])(?P<value>(?:\\.|(?!(?P=q))[^\\\n]){1,500})(?P=q)"""
)
# dotenv / shell lines (`DB_PASSWORD=hunter2`, `export TOKEN=abc`) and YAML keys
# (`  password: hunter2`) with a bare value that runs to the end of the line or a comment.
_BARE_VALUE = re.compile(
    r"(?P<op>=|:[ \t]+)(?P<value>[A-Za-z0-9+/=_\-.~!@%^*#$&]+?)[ \t]*(?:[ \t]#.*)?$", re.MULTILINE
)
_DOTENV_NAME = re.compile(r"(?:export[ \t]+)?[A-Za-z0-9_.\-]*")
_YAML_NAME = re.compile(r"[ \t]*(?:-[ \t]+)?[A-Za-z0-9_.\-]*")
_PLACEHOLDER_VALUE = re.compile(
    r"""(?:
        \$\{?[\w.:\-]*\}?           # $VAR, ${VAR}
      | .*(?:\{\{|\$\{|\#\{|%\().*  # templates: {{ x }}, ${x}, #{x}, %(x)s
      | <[^<>]*>                    # <your-token-here>, and our own placeholder
      | (.)\1*                      # ****, xxxx
      | %[sd]                       # printf
      | (?:~|\.{1,2})?/[\w.\-/]+    # a path
      | https?://\S*                # a URL (its password, if any, goes by the URL rule)
      | [A-Za-z_]\w*\.[A-Za-z_][\w.]*  # a dotted name (settings.TOKEN, accounts.User)
    )""",
    re.VERBOSE | re.DOTALL,
)


def _is_secret_value(value: str) -> bool:
    """Whether a literal given a secret's name holds a value worth hiding: not empty, not a
    placeholder, a path or a reference, and not prose (words with spaces) unless a word of it
    looks generated ("Bearer 3fa9…")."""
    if not value.strip() or _PLACEHOLDER_VALUE.fullmatch(value):
        return False
    if any(c.isspace() for c in value):
        return any(looks_generated(word) for word in value.split())
    return True


def _named_spans(text: str) -> Iterable[Span]:
    last_end = -1
    for hit in _STEM_FINDER.finditer(text):
        start = hit.start()
        if start < last_end:
            continue
        word = _SECRET_WORD.match(text, start)
        if word is None:
            continue
        strong = word.group("strong") is not None
        if word.group("key") is not None:
            strong = _SECRET_KEY_QUALIFIER.search(text, max(0, start - 16), start) is not None
        elif word.group("strong") and word.group("strong").lower() == "pass":
            # "pass" alone is a word only after a separator (`DB_PASS`), not in `bypass`.
            if start == 0 or text[start - 1] not in "_-.":
                continue
        last_end = word.end()
        literal = _OPERATOR_LITERAL.match(text, word.end())
        if literal is not None:
            value = literal.group("value")
            if (strong and _is_secret_value(value)) or looks_generated(value):
                yield literal.span("value")
                last_end = literal.end()
            continue
        if strong and (bare := _BARE_VALUE.match(text, word.end())) is not None:
            value = bare.group("value")
            line_start = text.rfind("\n", 0, start) + 1
            if bare.group("op") == "=":
                named = _DOTENV_NAME.fullmatch(text, line_start, start) is not None
            else:
                # YAML: a digit or a sign, so a Python annotation (`password: str`) stays.
                named = _YAML_NAME.fullmatch(text, line_start, start) is not None and any(
                    not (c.isalpha() or c in "_.") for c in value
                )
            if named and _is_secret_value(value):
                yield bare.span("value")
                last_end = bare.end()


def _merged(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _replaced(text: str, spans: Iterable[Span]) -> str:
    merged = _merged(spans)
    if not merged:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in merged:
        pieces += (text[done:start], PLACEHOLDER)
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def redact_lines(text: str) -> str:
    """`redact_secrets` without the line cache and the key blocks: every rule it applies
    matches within one line, so redacting lines one by one gives the same text."""
    return _replaced(text, [*_token_spans(text), *_named_spans(text)])


class SecretRedactor:
    """`redact_secrets` with a memory of what it has seen.

    A prompt per keystroke repeats the one before it but for a line or two, and every rule but
    the key blocks' matches within one line. So the redactor keeps the last prompt's head (all
    but its last line) with its answer — a prompt that starts with it costs one comparison and
    its new tail — and each line's answer, so a prompt whose lines were all seen costs a split
    and two set look-ups. The answer is the same with or without the memory, which is
    bounded and simply forgotten when full.
    """

    MAX_LINES = 50_000

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._changed: dict[str, str] = {}
        self._head = ""
        self._head_redacted = ""

    def redact(self, text: str) -> str:
        if "PRIVATE KEY" in text:
            return self._redact_lines(_replaced(text, _key_block_spans(text)))
        head = self._head
        if head and text.startswith(head):
            return self._head_redacted + self._redact_lines(text[len(head) :])
        redacted = self._redact_lines(text)
        self._head = text[: text.rfind("\n") + 1]
        # No rule's match crosses a line end, so the head's answer is the answer's head.
        self._head_redacted = redacted[: redacted.rfind("\n") + 1]
        return redacted

    def _redact_lines(self, text: str) -> str:
        lines = text.split("\n")
        seen, changed = self._seen, self._changed
        if not seen.issuperset(lines):
            if len(seen) > self.MAX_LINES:
                seen.clear()
                changed.clear()
            new = list(dict.fromkeys(line for line in lines if line not in seen))
            redacted = redact_lines("\n".join(new)).split("\n")
            for before, after in zip(new, redacted, strict=True):
                if after != before:
                    changed[before] = after
            seen.update(new)
        if changed.keys().isdisjoint(lines):
            return text
        return "\n".join([changed.get(line, line) for line in lines])


_REDACTOR = SecretRedactor()


def redact_secrets(text: str) -> str:
    """`text` with secret-looking values replaced by `PLACEHOLDER`:

    * private-key blocks (PEM, OpenSSH, PGP): the lines between BEGIN and END;
    * tokens recognisable by their shape: AWS access key ids, GitHub, GitLab, Slack, Stripe,
      Google, OpenAI/Anthropic, npm and PyPI tokens, JWTs, Slack webhooks;
    * the password of a URL's `user:password@`;
    * string literals given a name that ends in password / passwd / pwd / passphrase /
      secret / token / api_key / access_key / private_key / secret_key / credential / auth /
      authorization … by any language's assignment, keyword argument, dict, JSON or YAML key
      or comparison, and bare values of such names in dotenv, shell and YAML lines — unless
      the literal is empty, a placeholder, a path, a reference or prose;
    * generated-looking literals (`looks_generated`) given any key-ish name (`cache_key`,
      `salt`, `signature`, `cookie`, `dsn` …).

    A name such as `password` without a literal value (`password = getpass()`) stays. Applying
    it again changes nothing.
    """
    return _REDACTOR.redact(text)
