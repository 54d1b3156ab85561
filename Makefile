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
# promtool, for the alerts' unit tests. Built with Prometheus's remove_all_sd tag: rule tests need no
# service discovery, and the cloud SDKs it drops (AWS EC2, Azure, GCE, ...) are most of a full build (over an
# hour on the shared 2 cores; about 14 minutes without them, most dependencies already in the build cache).
PROMETHEUS_VERSION ?= v0.316.0
PROMTOOL ?= $(LOCALBIN)/promtool
# Helm v4.3.1 is built against k8s.io v0.37.1, the main module's Kubernetes version.
HELM_VERSION ?= v4.3.1
HELM ?= $(LOCALBIN)/helm

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
	@# The chart cannot read outside its directory: it ships copies (hack/charttest fails when they differ).
	rm -f charts/mmelink/files/crds/*.yaml
	cp config/crd/bases/*.yaml charts/mmelink/files/crds/
	cp config/rbac/role.yaml charts/mmelink/files/manager-role.yaml

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet (the main module and the chart tests' module).
	$(GO) vet ./...
	cd hack/charttest && $(GO) vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (config in .golangci.yml).
	$(GOLANGCI_LINT) run ./...
	cd hack/charttest && $(GOLANGCI_LINT) run --config ../../.golangci.yml ./...

.PHONY: docs
docs: crd-ref-docs ## Write the API reference (docs/api-reference.md) from the types' doc comments.
	$(CRD_REF_DOCS) --source-path=./api/v1alpha1 --config=docs/crd-ref-docs.yaml --renderer=markdown \
		--output-path=docs/api-reference.md --log-level=WARN

.PHONY: prometheus-rule
prometheus-rule: ## Write config/prometheus/prometheusrule.yaml, the PrometheusRule around config/prometheus/rules.yaml, and the chart's copy.
	@{ echo '# Written by `make prometheus-rule` from rules.yaml: edit that file, not this one.'; \
	  echo 'apiVersion: monitoring.coreos.com/v1'; echo 'kind: PrometheusRule'; echo 'metadata:'; \
	  echo '  name: mmelink'; echo 'spec:'; grep -v '^#' config/prometheus/rules.yaml | sed 's/^./  &/'; \
	} > config/prometheus/prometheusrule.yaml
	@# The chart ships the same rules (hack/charttest fails when they differ).
	cp config/prometheus/rules.yaml charts/mmelink/files/prometheus-rules.yaml

.PHONY: verify
verify: manifests generate docs prometheus-rule ## Fail when generated files or formatting differ from what is committed.
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	@if [ -n "$$(git status --porcelain -- api config charts docs/api-reference.md)" ]; then \
		echo "make manifests generate docs changed committed files; run them and commit the result:"; \
		git status --porcelain -- api config charts docs/api-reference.md; git --no-pager diff --stat -- api config charts docs; exit 1; fi

.PHONY: control-plane
control-plane: ## Build (once) kube-apiserver, etcd and kubectl for tests and the demo.
	@K8S_VERSION=$(K8S_VERSION) MMELINK_ASSETS=$(ASSETS) hack/control-plane.sh >/dev/null

.PHONY: test
test: verify vet control-plane test-install test-chart test-e2e test-alerts test-cluster ## Run all tests against a real kube-apiserver and etcd, and a throwaway PostgreSQL.
	KUBEBUILDER_ASSETS=$(ASSETS) hack/postgres.sh run $(GO) test $(GOFLAGS_TEST) ./... -skip '^TestHostileClients$$' -coverprofile cover.out
	@# Alone, after the rest: it measures answer times under attack, which other packages' tests running
	@# beside it on the same cores would distort.
	KUBEBUILDER_ASSETS=$(ASSETS) $(GO) test $(GOFLAGS_TEST) ./webhook-server/cmd -run '^TestHostileClients$$' -v

.PHONY: test-postgres
test-postgres: control-plane ## The PostgreSQL ledger's tests alone, on a throwaway server (hack/postgres.sh).
	KUBEBUILDER_ASSETS=$(ASSETS) hack/postgres.sh run $(GO) test $(GOFLAGS_TEST) ./internal/ledger/... ./internal/pgtest/...

.PHONY: test-alerts
test-alerts: promtool ## Check the alerting rules and run their unit tests (config/prometheus/tests) with promtool.
	$(PROMTOOL) check rules config/prometheus/rules.yaml
	cd config/prometheus/tests && $(PROMTOOL) test rules *.yaml

.PHONY: test-install
test-install: control-plane build-installer ## Server-side dry run of dist/install.yaml, the optional components and the samples on a throwaway control plane.
	KUBEBUILDER_ASSETS=$(ASSETS) $(GO) run ./hack/installcheck --kubectl $(KUBECTL) --install dist/install.yaml \
		--base config/default --component config/ingress --component config/network-policy --component config/bundled-webhook \
		-f config/webhook-server/secret.example.yaml -k config/samples

.PHONY: test-chart
test-chart: control-plane helm ## The Helm chart: lint, every toggle dry-run, defaults = dist/install.yaml, the README's install snippets (hack/charttest).
	cd hack/charttest && KUBEBUILDER_ASSETS=$(ASSETS) HELM=$(HELM) $(GO) test $(GOFLAGS_TEST) -timeout 20m ./...

.PHONY: test-e2e
test-e2e: build control-plane ## The demo as an end-to-end test: restarts the webhook server mid-traffic, fires Meta's kill switch, asserts every status field.
	$(GO) build -o $(LOCALBIN)/demo ./hack/demo
	KUBEBUILDER_ASSETS=$(ASSETS) $(LOCALBIN)/demo --bin $(LOCALBIN) --kubectl $(KUBECTL) --out demo-output --check

.PHONY: node
node: ## Build (once) kubelet, kube-controller-manager, kube-scheduler, kube-proxy, containerd and the CNI plugins.
	@K8S_VERSION=$(K8S_VERSION) MMELINK_NODE=$(NODE) hack/node.sh >/dev/null

.PHONY: test-cluster
test-cluster: build build-installer control-plane node helm ## The operator as pods on a one-node cluster built from source, installed from dist/install.yaml, then with the Helm chart (installed and upgraded) (root; docs/test-cluster.md).
	$(GO) build -o $(LOCALBIN)/clustertest ./hack/clustertest
	$(LOCALBIN)/clustertest --bin $(LOCALBIN) --control-plane $(ASSETS) --node $(NODE) --install kubectl
	$(LOCALBIN)/clustertest --bin $(LOCALBIN) --control-plane $(ASSETS) --node $(NODE) --install helm

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

# install-plugin puts kubectl-mmelink where kubectl finds plugins: on the PATH, as $(GOBIN) (go env GOBIN,
# else GOPATH/bin) usually is, or $(PREFIX)/bin when PREFIX is given (make install-plugin PREFIX=/usr/local).
PLUGIN_DIR ?= $(if $(PREFIX),$(PREFIX)/bin,$(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin))

.PHONY: build-plugin
build-plugin: ## Build the kubectl plugin (kubectl mmelink) into bin/.
	$(GO) build -trimpath -ldflags "-s -w" -o $(LOCALBIN)/kubectl-mmelink ./cmd/kubectl-mmelink

.PHONY: install-plugin
install-plugin: build-plugin ## Install kubectl-mmelink into $(GOBIN), or $(PREFIX)/bin with PREFIX=...; then `kubectl mmelink --help`.
	install -d $(PLUGIN_DIR)
	install -m 0755 $(LOCALBIN)/kubectl-mmelink $(PLUGIN_DIR)/kubectl-mmelink
	@echo "installed $(PLUGIN_DIR)/kubectl-mmelink: run kubectl mmelink --help ($(PLUGIN_DIR) must be on PATH)"

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

HELM_RELEASE ?= mmelink
HELM_NAMESPACE ?= mmelink-system
HELM_ARGS ?=
# A directory with the files app-secret and verify-token: helm-install writes the webhook Secret from them
# first (--wait waits for the webhook server, which does not start without it).
WEBHOOK_SECRET_DIR ?=
.PHONY: helm-install
helm-install: helm ## helm upgrade --install the chart into the cluster of KUBECONFIG (namespace first, Pod Security restricted); HELM_ARGS, WEBHOOK_SECRET_DIR.
	$(KUBECTL) create namespace $(HELM_NAMESPACE) --dry-run=client -o yaml \
		| $(KUBECTL) label --local -f - -o yaml pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted \
		| $(KUBECTL) apply --server-side --field-manager=mmelink-make -f -
	@if [ -n "$(WEBHOOK_SECRET_DIR)" ]; then \
		$(KUBECTL) -n $(HELM_NAMESPACE) create secret generic $(HELM_RELEASE)-webhook --dry-run=client -o yaml \
			--from-file=app-secret=$(WEBHOOK_SECRET_DIR)/app-secret --from-file=verify-token=$(WEBHOOK_SECRET_DIR)/verify-token \
			| $(KUBECTL) apply --server-side --field-manager=mmelink-make -f - >/dev/null; fi
	$(HELM) upgrade --install $(HELM_RELEASE) charts/mmelink --namespace $(HELM_NAMESPACE) --wait --timeout 5m $(HELM_ARGS)

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

.PHONY: promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	GOBIN=$(LOCALBIN) GOFLAGS=-tags=remove_all_sd $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)

.PHONY: helm
helm: $(HELM) ## Build helm (HELM_VERSION) from the Go module proxy into bin/.
$(HELM):
	GOBIN=$(LOCALBIN) GOFLAGS= $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
