"""A Gatekeeper template that reads data.inventory sees the documents of the scan itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SAMPLE = (
    Path(__file__).parents[2].parent
    / "shared"
    / "corpus"
    / "gatekeeper"
    / "library"
    / "general"
    / "storageclass"
)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"the shared Gatekeeper corpus is absent ({SAMPLE})")
def test_a_storage_class_in_the_scanned_documents_satisfies_the_inventory_lookup(
    run_cli, tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    shutil.copy(SAMPLE / "template.yaml", policies / "template.yaml")
    shutil.copy(SAMPLE / "samples" / "storageclass" / "constraint.yaml", policies / "constraint.yaml")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(SAMPLE / "samples" / "storageclass" / "example_allowed_pvc.yaml", manifests / "pvc.yaml")

    without = run_cli("scan", "manifests", "--pack", "none", "-p", "policies", "-f", "json", "-j", "1")
    shutil.copy(
        SAMPLE / "samples" / "storageclass" / "example_inventory_allowed_storageclass.yaml",
        manifests / "storageclass.yaml",
    )
    with_class = run_cli("scan", "manifests", "--pack", "none", "-p", "policies", "-f", "json", "-j", "1")

    assert without.verdicts() == {("storageclass", "K8sStorageClass", "PersistentVolumeClaim/ok", "fail")}
    assert with_class.verdicts() == {("storageclass", "K8sStorageClass", "PersistentVolumeClaim/ok", "pass")}
