# /etc/profile.d/acc-py.sh (Acc-Py images): login and interactive shells get what the image's
# environment already gives commands: the base active, then its venv.
if [ -r /opt/acc-py/base/installed/setup.sh ]; then
    . /opt/acc-py/base/installed/setup.sh
fi
if [ -r /opt/acc-py/venvs/acc-py-venv/bin/activate ] && [ -z "${_ACC_PY_IMAGE_VENV:-}" ]; then
    VIRTUAL_ENV_DISABLE_PROMPT=${VIRTUAL_ENV_DISABLE_PROMPT:-}
    . /opt/acc-py/venvs/acc-py-venv/bin/activate
fi
