#!/usr/bin/python3
"""Renders charts/tidemark the way `helm template` does, for the subset of Go templates the
chart uses. No helm binary can be installed on the build machines, so this is what the tests
(tests/shipping/chart_test.py) render the chart with.

The subset, kept deliberately small so that real Helm renders the same text:
  {{ pipeline }}  {{- ... -}} (trim markers)  {{/* comment */}}
  {{ if P }} ... {{ else }} ... {{ end }}
  {{ range P }} ... {{ else }} ... {{ end }}   (`.` is the element, `$` the root)
  {{ define "name" }} ... {{ end }}            (in _*.tpl files)
  values: .A.B, $.A.B, ., $, "strings", `raw strings`, integers, true, false
  functions: include, quote, default, toYaml, indent, nindent
Anything else (variables, parentheses, other functions, `with`, `else if`) is an error, as is
a value path that values.yaml does not define: the renderer refuses rather than guesses.

Usage: chart_render.py CHART_DIR [--release NAME] [--namespace NS] [-f VALUES.yaml]...
                       [--include-crds]
"""

import argparse
import json
import os
import re
import sys

import yaml


class TemplateError(Exception):
    pass


# ---------------------------------------------------------------------------- lexing

def _find_action_end(text, start):
    """Index of the `}}` closing the action opened before `start`, skipping string literals."""
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "`":
            i = text.find("`", i + 1)
            if i < 0:
                break
        elif text.startswith("}}", i):
            return i
        i += 1
    raise TemplateError("unclosed {{ action")


def lex(text):
    """Splits a template into ("text", str) and ("action", str) tokens, applying trim markers."""
    tokens = []
    pos = 0
    while True:
        open_at = text.find("{{", pos)
        if open_at < 0:
            tokens.append(["text", text[pos:]])
            return tokens
        tokens.append(["text", text[pos:open_at]])
        body_start = open_at + 2
        trim_left = text.startswith("- ", body_start) or text.startswith("-\n", body_start)
        if trim_left:
            body_start += 1
            tokens[-1][1] = tokens[-1][1].rstrip(" \t\r\n")
        close_at = _find_action_end(text, body_start)
        body_end = close_at
        trim_right = text[close_at - 2:close_at] in (" -", "\n-")
        if trim_right:
            body_end -= 1
        tokens.append(["action", text[body_start:body_end].strip()])
        pos = close_at + 2
        if trim_right:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1


# ---------------------------------------------------------------------------- parsing

def _split_words(source):
    """Splits a command into words, keeping string literals whole."""
    words = []
    i = 0
    while i < len(source):
        c = source[i]
        if c.isspace():
            i += 1
        elif c == '"':
            j = i + 1
            while j < len(source) and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            words.append(source[i:j + 1])
            i = j + 1
        elif c == "`":
            j = source.find("`", i + 1)
            if j < 0:
                raise TemplateError("unclosed raw string in: " + source)
            words.append(source[i:j + 1])
            i = j + 1
        elif c == "|":
            words.append("|")
            i += 1
        elif c in "()":
            raise TemplateError("parentheses are outside the supported subset: " + source)
        else:
            j = i
            while j < len(source) and not source[j].isspace() and source[j] not in '|"`()':
                j += 1
            words.append(source[i:j])
            i = j
    return words


def parse_pipeline(source):
    """A pipeline is a list of commands; a command is a list of words."""
    commands = [[]]
    for word in _split_words(source):
        if word == "|":
            commands.append([])
        else:
            commands[-1].append(word)
    if any(not command for command in commands):
        raise TemplateError("empty command in pipeline: " + source)
    return commands


def parse(tokens, defines):
    """Builds the node tree; `define` blocks go to `defines` (name -> nodes)."""
    position = 0

    def block(terminators):
        nonlocal position
        nodes = []
        while position < len(tokens):
            kind, value = tokens[position]
            position += 1
            if kind == "text":
                if value:
                    nodes.append(("text", value))
                continue
            if value.startswith("/*"):
                if not value.endswith("*/"):
                    raise TemplateError("bad comment: " + value)
                continue
            keyword = value.split(None, 1)[0]
            rest = value[len(keyword):].strip()
            if keyword in terminators and (keyword != "else" or not rest):
                return nodes, keyword
            if keyword in ("if", "range"):
                body, ended_by = block(("else", "end"))
                alternative = []
                if ended_by == "else":
                    alternative, ended_by = block(("end",))
                if ended_by != "end":
                    raise TemplateError(keyword + " without end")
                nodes.append((keyword, parse_pipeline(rest), body, alternative))
            elif keyword == "define":
                name = json.loads(rest)
                body, ended_by = block(("end",))
                if ended_by != "end":
                    raise TemplateError("define without end")
                defines[name] = body
            elif keyword in ("else", "end", "with", "block", "template", "break", "continue"):
                raise TemplateError("unexpected or unsupported {{ " + value + " }}")
            elif re.match(r"^\$[A-Za-z_]\w*\s*:?=", value):
                raise TemplateError("variables are outside the supported subset: " + value)
            else:
                nodes.append(("action", parse_pipeline(value)))
        return nodes, None

    nodes, ended_by = block(())
    if ended_by is not None:
        raise TemplateError("unexpected {{ " + ended_by + " }}")
    return nodes


# ---------------------------------------------------------------------------- evaluation

def truth(value):
    """Go template truthiness: false, 0, nil and empty string/list/map are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def to_text(value):
    """How Go's fmt prints a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError("cannot print %r (use toYaml)" % (value,))


def to_yaml(value):
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def indent(count, text):
    pad = " " * count
    return pad + text.replace("\n", "\n" + pad)


class Renderer:
    def __init__(self, root, defines):
        self.root = root
        self.defines = defines

    def render(self, nodes, dot):
        out = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                out.append(to_text(self.pipeline(node[1], dot)))
            elif kind == "if":
                chosen = node[2] if truth(self.pipeline(node[1], dot)) else node[3]
                out.append(self.render(chosen, dot))
            elif kind == "range":
                items = self.pipeline(node[1], dot)
                if isinstance(items, dict):
                    items = [items[key] for key in sorted(items)]
                elif items is None:
                    items = []
                elif not isinstance(items, list):
                    raise TemplateError("range over a non-list: %r" % (items,))
                if items:
                    out.extend(self.render(node[2], item) for item in items)
                else:
                    out.append(self.render(node[3], dot))
        return "".join(out)

    def pipeline(self, commands, dot):
        """Each command's result is passed as the last argument of the next one."""
        piped = []
        for command in commands:
            piped = [self.command(command[0], command[1:], dot, piped)]
        return piped[0]

    def command(self, head, words, dot, piped):
        if head in FUNCTIONS:
            return FUNCTIONS[head](self, *[self.operand(w, dot) for w in words], *piped)
        if words or piped:
            raise TemplateError("%s is not a function of the supported subset" % head)
        return self.operand(head, dot)

    def operand(self, word, dot):
        if word.startswith('"'):
            return json.loads(word)
        if word.startswith("`"):
            return word[1:-1]
        if re.fullmatch(r"-?\d+", word):
            return int(word)
        if word in ("true", "false"):
            return word == "true"
        if word == ".":
            return dot
        if word == "$":
            return self.root
        if word.startswith("$."):
            return self.field(self.root, word[2:], word)
        if word.startswith("."):
            return self.field(dot, word[1:], word)
        raise TemplateError("unsupported operand or function: " + word)

    @staticmethod
    def field(value, path, word):
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                raise TemplateError("%s: no such value (define it in values.yaml)" % word)
            value = value[part]
        return value


def _include(renderer, name, context):
    if name not in renderer.defines:
        raise TemplateError("include of undefined template " + name)
    return renderer.render(renderer.defines[name], context)


def _quote(_, *values):
    return " ".join(json.dumps(to_text(v)) for v in values)


def _default(_, fallback, value=None):
    return value if truth(value) else fallback


FUNCTIONS = {
    "include": _include,
    "quote": _quote,
    "default": _default,
    "toYaml": lambda _, value: to_yaml(value),
    "indent": lambda _, count, text: indent(count, text),
    "nindent": lambda _, count, text: "\n" + indent(count, text),
}


# ---------------------------------------------------------------------------- the chart

def merge_values(base, override):
    """Helm's coalescing: maps merge key by key, null removes a key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def render_chart(chart_dir, release="tidemark", namespace="tidemark-system", value_files=(),
                 include_crds=False):
    """Returns the rendered manifest stream (YAML documents separated by ---)."""
    chart = yaml.safe_load(_read(os.path.join(chart_dir, "Chart.yaml")))
    values = yaml.safe_load(_read(os.path.join(chart_dir, "values.yaml"))) or {}
    for path in value_files:
        values = merge_values(values, yaml.safe_load(_read(path)) or {})
    root = {
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm",
                    "IsInstall": True, "IsUpgrade": False, "Revision": 1},
        "Chart": {key[0].upper() + key[1:]: value for key, value in chart.items()},
    }
    template_dir = os.path.join(chart_dir, "templates")
    defines = {}
    parsed = {}
    for name in sorted(os.listdir(template_dir)):
        nodes = parse(lex(_read(os.path.join(template_dir, name))), defines)
        if not name.startswith("_") and name != "NOTES.txt":
            parsed[name] = nodes
    renderer = Renderer(root, defines)
    documents = []
    if include_crds:
        crd_dir = os.path.join(chart_dir, "crds")
        for name in sorted(os.listdir(crd_dir)):
            documents.append("# Source: %s/crds/%s\n%s" % (chart["name"], name,
                                                           _read(os.path.join(crd_dir, name))))
    for name, nodes in parsed.items():
        text = renderer.render(nodes, root)
        if text.strip():
            documents.append("# Source: %s/templates/%s\n%s" % (chart["name"], name, text))
    return "---\n" + "\n---\n".join(doc.strip("\n") for doc in documents) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chart")
    parser.add_argument("--release", default="tidemark")
    parser.add_argument("--namespace", default="tidemark-system")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--include-crds", action="store_true")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render_chart(args.chart, args.release, args.namespace, args.values,
                                      args.include_crds))
    except (TemplateError, OSError, yaml.YAMLError) as error:
        sys.stderr.write("chart_render: %s\n" % error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
