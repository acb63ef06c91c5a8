# shellcheck shell=bash
# Sourced by run.sh (and so by scaling.sh): puts a run's report into bench/RESULTS.md
# without losing the runs before it.
#
# RESULTS.md holds one latest section per kind of run, between marker lines
#   <!-- latest:KIND date=DATE commit=COMMIT -->  ...  <!-- /latest:KIND -->
# then a line `<!-- history -->` and the History, newest first, each earlier run
# under a line `<!-- run:KIND date=DATE commit=COMMIT -->` and a dated heading.
#
# results_update KIND REPORT FILE DATE COMMIT
#   REPORT (markdown whose first heading is `# TITLE`) becomes FILE's latest KIND
#   section, one heading level down. The section it replaces, if any, moves to the
#   top of the History as `### DATE, commit COMMIT: TITLE`. A kind not in FILE yet
#   gets its section just before the History. FILE is replaced in one rename; one
#   without the `<!-- history -->` line is left alone (status 1).
results_update() {
  local kind=$1 report=$2 file=$3 date=$4 commit=$5 tmp
  if [[ ! -f $file ]] || ! grep -qx '<!-- history -->' "$file"; then
    echo "results_update: $file has no '<!-- history -->' line; not changed" >&2
    return 1
  fi
  tmp=$(mktemp "$file.XXXXXX")
  chmod --reference="$file" "$tmp"
  if ! awk -v kind="$kind" -v report="$report" -v date="$date" -v commit="$commit" '
    # Markdown headings one or more levels down, outside code fences.
    function demote(line, n, stream) {
      if (line ~ /^```/) fence[stream] = !fence[stream]
      if (!fence[stream] && line ~ /^#+ /) return substr("######", 1, n) line
      return line
    }
    function attr(line, name) {
      if (!match(line, name "=[^ ]+")) return "unknown"
      return substr(line, RSTART + length(name) + 1, RLENGTH - length(name) - 1)
    }
    function print_new(   line) {
      print "<!-- latest:" kind " date=" date " commit=" commit " -->"
      while ((getline line < report) > 0) print demote(line, 1, "new")
      close(report)
      print "<!-- /latest:" kind " -->"
      placed = 1
    }
    # The replaced section as a History entry: its first heading gets date and commit.
    function print_old(   i, first, last, titled, line) {
      first = 1; last = n_old
      while (first <= last && old[first] == "") first++
      while (last >= first && old[last] == "") last--
      print "<!-- run:" kind " date=" old_date " commit=" old_commit " -->"
      for (i = first; i <= last; i++) {
        line = old[i]
        if (!titled && line ~ /^## /) { line = "### " old_date ", commit " old_commit ": " substr(line, 4); titled = 1 }
        else line = demote(line, 1, "old")
        print line
      }
      moved = 1
    }
    function broken(why) { print "results_update: " FILENAME ": " why "; not changed" > "/dev/stderr"; failed = 1; exit 1 }
    $0 ~ "^<!-- latest:" kind "( |-->)" {
      if (seen) broken("two latest " kind " sections")
      seen = 1; in_old = 1; old_date = attr($0, "date"); old_commit = attr($0, "commit"); print_new(); next
    }
    in_old && $0 == "<!-- /latest:" kind " -->" { in_old = 0; next }
    in_old && /^<!-- (history|run:)/ { broken("the latest " kind " section has no end marker") }
    in_old { old[++n_old] = $0; next }
    $0 == "<!-- history -->" { if (!placed) { print_new(); print "" }; in_history = 1; print; next }
    in_history && n_old && !moved && /^<!-- run:/ { print_old(); print "" }
    { print }
    END {
      if (failed) exit 1
      if (in_old) broken("the latest " kind " section has no end marker")
      if (n_old && !moved) { print ""; print_old() }
    }
  ' "$file" >"$tmp"; then
    rm -f "$tmp"
    return 1
  fi
  mv "$tmp" "$file"
}
