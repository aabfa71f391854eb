#!/bin/sh
# The manual pages (issue 15): man/nflow.1 and man/nflow-COMMAND.1 are
# written by hand, and agree with the tool's own help: the commands of
# `nflow --help` are those of nflow(1) and have a page each; the options
# of `nflow COMMAND --help` are those of the page's OPTIONS (both ways, and
# whether each takes a value), its NAME line is the command's summary, its
# SYNOPSIS holds every word of the usage line; the environment variables
# the tool reads are in nflow(1). Every page renders with groff without a
# warning (man -l too, where man-db is there).
suite=cli_man
. "$(dirname "$0")/lib_cli.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
man="$root/man"

# render PAGE: plain text, lines long enough not to break or hyphenate
render() { groff -man -Tascii -P-cbou -rLL=2000n "$1" 2>/dev/null; }
# section PAGE NAME: the rendered section NAME, up to the next one
section() { render "$1" | awk -v s="$2" '/^[A-Z]/ { on = ($0 == s); next } on'; }
# help_options COMMAND: "name 0|1" (takes a value) for each option its --help lists
help_options() {
    "$nflow" "$1" --help | awk '/^  --/ { n = $1; sub(/^--/, "", n); print n, ($2 ~ /^[SXN]$/ ? 1 : 0) }' | sort
}
# page_options PAGE: the same from the tags (the line after .TP) of the
# page's OPTIONS section: .B for a flag, .BI for an option with a value
page_options() {
    awk '/^\.SH / { on = ($0 ~ /^\.SH OPTIONS/) } on && tag && /^\.BI? \\-\\-/ {
        v = ($1 == ".BI"); n = $2; gsub(/\\-/, "-", n); sub(/^--/, "", n); print n, v } { tag = ($0 == ".TP") }' "$1" | sort
}
# page_name PAGE: the NAME line's summary, "\-" read as "-"
page_name() { awk '/^\.SH / { on = ($0 == ".SH NAME"); next } on { print; exit }' "$1" | sed 's/\\-/-/g; s/^[^ ]* - //'; }

command -v groff >/dev/null 2>&1 || bad "no groff (scripts/setup.sh installs groff-base)"

# the commands: nflow --help, nflow(1)'s COMMANDS, the pages there are
"$nflow" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' >"$t/commands"
[ "$(wc -l <"$t/commands")" -ge 10 ] && ok || bad "nflow --help lists $(wc -l <"$t/commands") commands"
awk '/^\.SH / { on = ($0 == ".SH COMMANDS") } on && /^\.B [a-z]+$/ { print $2 }' "$man/nflow.1" >"$t/page_commands"
cmp -s "$t/commands" "$t/page_commands" && ok ||
    bad "nflow(1) COMMANDS and nflow --help differ: $(diff "$t/commands" "$t/page_commands" | grep '^[<>]' | tr '\n' ' ')"
(cd "$man" && ls nflow-*.1) | sed 's/^nflow-//; s/\.1$//' | sort >"$t/pages"
sort "$t/commands" >"$t/commands.sorted"
cmp -s "$t/commands.sorted" "$t/pages" && ok ||
    bad "a page for every command and no other: $(diff "$t/commands.sorted" "$t/pages" | grep '^[<>]' | tr '\n' ' ')"

for c in $(cat "$t/commands"); do
    page="$man/nflow-$c.1"
    [ -f "$page" ] || continue
    help_options "$c" >"$t/h.opts"
    page_options "$page" >"$t/p.opts"
    [ -s "$t/h.opts" ] && cmp -s "$t/h.opts" "$t/p.opts" && ok ||
        bad "nflow-$c.1 OPTIONS vs nflow $c --help (< help, > page; name, takes a value):" \
            "$(diff "$t/h.opts" "$t/p.opts" | grep '^[<>]' | tr '\n' ' ')"
    what=$("$nflow" --help | awk -v c="$c" '$1 == c { sub(/^ *[^ ]+ +/, ""); print; exit }')
    [ "$(page_name "$page")" = "$what" ] && ok || bad "nflow-$c.1 NAME '$(page_name "$page")', nflow --help '$what'"
    grep -q "^\\.TH NFLOW\\\\-$(echo "$c" | tr a-z A-Z) 1 " "$page" && ok || bad "nflow-$c.1: its .TH line"
    # every word of the usage line is in the SYNOPSIS
    synopsis=" $(section "$page" SYNOPSIS | tr -s ' |[]\n' ' ') "
    missing=""
    for w in $("$nflow" "$c" --help | sed -n '1s/^usage: //p' | tr '|[]' '   '); do
        case "$synopsis" in *" $w "*) ;; *) missing="$missing $w" ;; esac
    done
    [ -z "$missing" ] && ok || bad "nflow-$c.1 SYNOPSIS lacks$missing"
    grep -q "^\\.BR nflow\\\\-$c (1)" "$man/nflow.1" && ok || bad "nflow(1) does not name nflow-$c(1)"
done

# nflow(1): the environment variables the tool reads (itself or through
# the library: NFLOW_OVERSUBSCRIBE, NFLOW_PROGRESS), the exit statuses
env_section=$(section "$man/nflow.1" ENVIRONMENT)
for v in $(grep -ho '"\(NFLOW_[A-Z_]*\|OMP_[A-Z_]*\|OPENBLAS_[A-Z_]*\|COLUMNS\)"' "$root"/tools/*.c "$root"/src/*/*.c |
    tr -d '"' | sort -u) \
    OMP_NUM_THREADS; do
    echo "$env_section" | grep -q "^       $v\$" && ok || bad "nflow(1) ENVIRONMENT lacks $v"
done
status_section=$(section "$man/nflow.1" "EXIT STATUS")
for s in 0 1 2 130; do
    echo "$status_section" | grep -q "^       $s " && ok || bad "nflow(1) EXIT STATUS lacks $s"
done
section "$man/nflow.1" FILES | grep -q "docs/model-format.md" && ok || bad "nflow(1) FILES: no docs/model-format.md"

# every page renders without a warning
for page in "$man"/*.1; do
    name=$(basename "$page")
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    [ -z "$warnings" ] && ok || bad "$name: groff: $warnings"
    [ "$(render "$page" | grep -c .)" -gt 10 ] && ok || bad "$name renders to almost nothing"
    if command -v man >/dev/null 2>&1; then
        out=$(MANPAGER=cat MANWIDTH=80 man --warnings -l "$page" 2>"$t/man.err")
        [ -n "$out" ] && [ ! -s "$t/man.err" ] && ok || bad "$name: man -l: $(cat "$t/man.err")"
    fi
    # no line of text may start with a control character by accident ('),
    # and every request is a man macro or a comment
    odd=$(grep -n "^'\\|^\\.[^\\\\ ]" "$page" |
        grep -v ":\\.\\(TH\\|SH\\|SS\\|TP\\|PP\\|RS\\|RE\\|EX\\|EE\\|B\\|I\\|BI\\|BR\\|RB\\|RI\\|IR\\|br\\)\\( \\|\$\\)" | head -3)
    [ -z "$odd" ] && ok || bad "$name: requests outside the man macros: $odd"
done

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
