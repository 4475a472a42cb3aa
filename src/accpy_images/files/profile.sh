# /etc/profile.d/acc-py.sh (Acc-Py images): login and interactive shells, whose profile resets
# PATH, get what the image's environment gives every command: the base active, then its venv.
if [ -r /opt/acc-py/base/installed/setup.sh ]; then
    . /opt/acc-py/base/installed/setup.sh
fi
if [ -r /opt/acc-py/venvs/acc-py-venv/bin/activate ]; then
    . /opt/acc-py/venvs/acc-py-venv/bin/activate
fi
