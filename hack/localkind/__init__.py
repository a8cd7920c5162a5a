"""The project's kind cluster: real kubelets in podman (or docker) containers, the operator in-cluster.

    python -m localkind up|down|status     # make kind-up | kind-down | kind-status

See cluster.py for what `up` does and what `down` restores, nodeimage.py for the stand-in node
image built offline, and network.py for the pod network between the nodes.
"""
