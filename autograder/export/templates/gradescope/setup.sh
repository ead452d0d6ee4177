#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the autograder's image
# (written by `python -m autograder gradescope`). It installs the course's pins into a venv and bubblewrap.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# bubblewrap: the course's sandbox, used when the container lets it run (run_autograder checks each time)
apt-get install -y -q bubblewrap
# Python 3.11, the course's version: Ubuntu's own package (22.04 has it in universe), else deadsnakes' PPA
if ! apt-get install -y -q python3.11 python3.11-venv; then
    apt-get install -y -q software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -q
    apt-get install -y -q python3.11 python3.11-venv
fi
PY=$(command -v python3.11)
"$PY" -m venv .venv
# the exact pins of the course (constraints.txt); torch from PyTorch's CPU index (2.13.0+cpu satisfies ==2.13.0)
.venv/bin/python -m pip install -q --disable-pip-version-check \
    --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt -c constraints.txt
# the learner package as learners get it (make dist); the grader's own copy in this folder comes first on PYTHONPATH
for wheel in wheels/*.whl; do
    if [ -e "$wheel" ]; then .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "$wheel"; fi
done
# where bubblewrap cannot run, the kernel runs as nobody (run_autograder): it must read the venv whatever the umask
chmod -R a+rX .venv
# nbgrader's gradebook schema version, asked once here rather than at every submission
PYTHONPATH="$PWD" .venv/bin/python -c "from autograder.classroom.gradebook import fast_gradebooks; fast_gradebooks()"
