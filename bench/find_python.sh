# Sourced by the bench scripts: py = the first of $PYTHON, python3,
# /usr/bin/python3 that imports numpy and torch (Debian's torch lives under
# /usr/bin/python3; a pyenv python3 first on PATH may lack it), or empty.
py=
for c in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$c" > /dev/null 2>&1 && "$c" -c 'import numpy, torch' > /dev/null 2>&1; then
        py=$c
        break
    fi
done
