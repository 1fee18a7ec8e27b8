"""The playbooks pass ansible-lint (production profile) and ansible-playbook --syntax-check, offline."""

from __future__ import annotations

import subprocess

import fleetkit


def test_ansible_lint_is_clean_offline() -> None:
    proc = subprocess.run([fleetkit.tool("ansible-lint"), "--offline", "--profile", "production", "--nocolor",
                           "rollout.yml", "rollback.yml"], cwd=fleetkit.PLAYBOOKS, capture_output=True, text=True,
                          timeout=300, env=fleetkit.clean_env(ANSIBLE_CONFIG=str(fleetkit.PLAYBOOKS / "ansible.cfg")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failure(s), 0 warning(s)" in proc.stdout + proc.stderr


def test_syntax_check_and_host_list_follow_the_example_inventory() -> None:
    proc = subprocess.run([fleetkit.tool("ansible-playbook"), "-i", "inventory.example.ini", "--syntax-check",
                           "rollout.yml", "rollback.yml"], cwd=fleetkit.PLAYBOOKS, capture_output=True, text=True,
                          timeout=120, env=fleetkit.clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
