# Rewrites the C that tsc generated for a model so that every runtime call
# of its forward and training passes is timed (profile_calls.c):
#
#   awk -f timed_calls.awk -v header=mlp.h mlp.c > mlp_timed.c
#
# Each call statement becomes
#   { const double t0_ = timing_now_seconds(); <statement> call_timer_add(K, "label", t0_); }
# where the label is the layer of the comment before it (`/* mlp.tdl:7:9
# dense_1: ... */` or `/* backward dense_1 */`), if no other statement came
# between them, and the runtime function.
# Only the generated file's own layout is relied on: a pass starts with
# `static tdl_status NAME_infer_pass(` or `NAME_train_pass(` and ends at the
# first line that is `}`; its calls start four spaces in with `tdl_` or
# `status = tdl_`, and each fits on one line.

function label_of(comment,    s) {
    s = comment
    sub(/^ *\/\* */, "", s)
    sub(/ *\*\/ *$/, "", s)
    if (s ~ /^backward /) return s
    sub(/^[^ ]+ +/, "", s)      # the file:line:column
    sub(/:.*$/, "", s)          # the shapes after the layer's name
    return s
}

$0 == "#include \"" header "\"" {
    print
    print "#include \"call_timer.h\""
    next
}
/^static tdl_status [A-Za-z0-9_]+_(infer|train)_pass\(/ { in_pass = 1; layer = "" }
in_pass && /^}/ { in_pass = 0 }
in_pass && /^    \/\* / { layer = label_of($0) }
in_pass && /^    (status = )?tdl_[a-z0-9_]+\(.*\);$/ {
    call = $0
    sub(/^    (status = )?/, "", call)
    sub(/\(.*/, "", call)
    calls++
    printf "    { const double t0_ = timing_now_seconds(); %s call_timer_add(%d, \"%s%s\", t0_); }\n", \
        substr($0, 5), calls, layer == "" ? "" : layer ": ", call
    next
}
# Any other statement but a status check ends the layer (the step's own
# calls, such as zeroing the gradients, carry no layer).
in_pass && /^    [^ \/]/ && !/^    if \(status != TDL_STATUS_OK\)/ { layer = "" }
{ print }
