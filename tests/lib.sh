# Shell pieces shared by tests/e2e.sh and tests/compat.sh (sourced).

# Processes still alive that belong to the run whose private temp dir is
# $TMP: those with it in their command line (a browser's profile, nginx's
# prefix), and an nginx worker holding a file there (its command line is
# rewritten). One pid per line.
run_dir_procs() {
    local p pid cmd fd
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        if [[ $cmd == *"$TMP"* ]]; then
            echo "$pid"
        elif [[ $cmd == "nginx: "* ]]; then
            for fd in "$p"/fd/*; do
                if [[ $(readlink "$fd" 2>/dev/null) == "$TMP"/* ]]; then echo "$pid"; break; fi
            done
        fi
    done
}
