"""accpy_images: the Acc-Py container images, six layered variants per base.

packages.yaml (OS packages per family) -> plan (what to build, from versions.yaml and a base's
dist/) -> containerfile (readable Containerfiles) -> build (buildah, then the SBOM sealed in) ->
archive (dist/images/*.oci.tar) -> push (skopeo). engine wraps buildah and skopeo; nothing else
runs them. The image names are accpy_core.images (acc-py init-ci uses the same).
"""
