# mmelink operator. `make help` lists the targets.

IMG ?= ghcr.io/mmelink/operator:latest
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Tools are built from the Go module proxy into bin/ at pinned versions.
LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
CRD_REF_DOCS_VERSION ?= v0.3.0
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs

# The local control plane (kube-apiserver, etcd, kubectl) is built from source by hack/control-plane.sh and
# cached outside the repository; KUBEBUILDER_ASSETS points envtest at it.
K8S_VERSION ?= 1.37.1
ASSETS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mmelink/k8s-$(K8S_VERSION)
KUBECTL ?= $(ASSETS)/kubectl
# The one-node cluster's kubelet, kube-controller-manager, kube-scheduler, kube-proxy, containerd and CNI
# plugins, built from source by hack/node.sh (make test-cluster, docs/test-cluster.md).
NODE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mmelink/node-$(K8S_VERSION)

GO ?= go
GOFLAGS_TEST ?= -count=1
BENCHTIME ?= 1s
# The controllers' benchmarks are whole scenarios on the control plane (10 to 20 s each); they report
# medians over this many iterations, as the shared machine's speed drifts.
SCENARIO_BENCHTIME ?= 5x
# Link counts of the webhook server's open-loop benchmark; BENCH_LINKS=100 leaves out the 10,000-link shapes
# (half of its 4 to 5 minutes, their links' creation included).
BENCH_LINKS ?= 100,10000

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and RBAC from the markers in the code.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (config in .golangci.yml).
	$(GOLANGCI_LINT) run ./...

.PHONY: docs
docs: crd-ref-docs ## Write the API reference (docs/api-reference.md) from the types' doc comments.
	$(CRD_REF_DOCS) --source-path=./api/v1alpha1 --config=docs/crd-ref-docs.yaml --renderer=markdown \
		--output-path=docs/api-reference.md --log-level=WARN

.PHONY: verify
verify: manifests generate docs ## Fail when generated files or formatting differ from what is committed.
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	@if [ -n "$$(git status --porcelain -- api config docs/api-reference.md)" ]; then \
		echo "make manifests generate docs changed committed files; run them and commit the result:"; \
		git status --porcelain -- api config docs/api-reference.md; git --no-pager diff --stat -- api config docs; exit 1; fi

.PHONY: control-plane
control-plane: ## Build (once) kube-apiserver, etcd and kubectl for tests and the demo.
	@K8S_VERSION=$(K8S_VERSION) MMELINK_ASSETS=$(ASSETS) hack/control-plane.sh >/dev/null

.PHONY: test
test: verify vet control-plane test-install test-e2e test-cluster ## Run all tests against a real kube-apiserver and etcd, and a throwaway PostgreSQL.
	KUBEBUILDER_ASSETS=$(ASSETS) hack/postgres.sh run $(GO) test $(GOFLAGS_TEST) ./... -coverprofile cover.out

.PHONY: test-postgres
test-postgres: control-plane ## The PostgreSQL ledger's tests alone, on a throwaway server (hack/postgres.sh).
	KUBEBUILDER_ASSETS=$(ASSETS) hack/postgres.sh run $(GO) test $(GOFLAGS_TEST) ./internal/ledger/... ./internal/pgtest/...

.PHONY: test-install
test-install: control-plane build-installer ## Server-side dry run of dist/install.yaml, the optional components and the samples on a throwaway control plane.
	KUBEBUILDER_ASSETS=$(ASSETS) $(GO) run ./hack/installcheck --kubectl $(KUBECTL) --install dist/install.yaml \
		--base config/default --component config/ingress --component config/network-policy --component config/bundled-webhook \
		-f config/webhook-server/secret.example.yaml -k config/samples

.PHONY: test-e2e
test-e2e: build control-plane ## The demo as an end-to-end test: restarts the webhook server mid-traffic and asserts every status field.
	$(GO) build -o $(LOCALBIN)/demo ./hack/demo
	KUBEBUILDER_ASSETS=$(ASSETS) $(LOCALBIN)/demo --bin $(LOCALBIN) --kubectl $(KUBECTL) --out demo-output --check

.PHONY: node
node: ## Build (once) kubelet, kube-controller-manager, kube-scheduler, kube-proxy, containerd and the CNI plugins.
	@K8S_VERSION=$(K8S_VERSION) MMELINK_NODE=$(NODE) hack/node.sh >/dev/null

.PHONY: test-cluster
test-cluster: build build-installer control-plane node ## The operator as pods on a one-node cluster built from source, installed from dist/install.yaml (root; docs/test-cluster.md).
	$(GO) build -o $(LOCALBIN)/clustertest ./hack/clustertest
	$(LOCALBIN)/clustertest --bin $(LOCALBIN) --control-plane $(ASSETS) --node $(NODE)

.PHONY: bench
bench: control-plane ## Run the benchmarks (see docs/performance.md).
	KUBEBUILDER_ASSETS=$(ASSETS) BENCH_LINKS=$(BENCH_LINKS) $(GO) test -timeout 30m -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list ./... | grep -v '/controllers$$')
	KUBEBUILDER_ASSETS=$(ASSETS) $(GO) test -run '^$$' -bench . -benchtime $(SCENARIO_BENCHTIME) ./controllers

.PHONY: demo
demo: build control-plane ## Run the whole product locally (control plane, Graph emulator, webhook server, manager) with the samples and simulated Meta traffic; leaves nothing running.
	$(GO) build -o $(LOCALBIN)/demo ./hack/demo
	KUBEBUILDER_ASSETS=$(ASSETS) $(LOCALBIN)/demo --bin $(LOCALBIN) --kubectl $(KUBECTL) --out demo-output

.PHONY: run-local
run-local: build control-plane ## The demo's setup, kept running until Ctrl-C to try things by hand.
	$(GO) build -o $(LOCALBIN)/demo ./hack/demo
	@# The built program, not go run: go run exits 1 after a Ctrl-C even when the program stops cleanly.
	KUBEBUILDER_ASSETS=$(ASSETS) $(LOCALBIN)/demo --bin $(LOCALBIN) --kubectl $(KUBECTL) --keep-running

##@ Build

.PHONY: build
build: ## Build the manager, webhook-server and graph-emulator binaries into bin/.
	$(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/manager .
	$(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/webhook-server ./webhook-server/cmd
	$(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/graph-emulator ./internal/graph/graphtest/cmd/graph-emulator

.PHONY: run
run: manifests generate ## Run the manager against the cluster of the current kubeconfig.
	$(GO) run . --webhook-bind-address=0

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster of the current kubeconfig.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster of the current kubeconfig.
	$(KUBECTL) delete --ignore-not-found -k config/default

.PHONY: build-installer
build-installer: manifests generate control-plane ## Write dist/install.yaml, the whole operator in one file.
	mkdir -p dist
	$(KUBECTL) kustomize config/default > dist/install.yaml.tmp
	mv dist/install.yaml.tmp dist/install.yaml

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) GOFLAGS= $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS)
$(CRD_REF_DOCS):
	GOBIN=$(LOCALBIN) GOFLAGS= $(GO) install github.com/elastic/crd-ref-docs@$(CRD_REF_DOCS_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
