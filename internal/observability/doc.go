// Package observability holds no code of the binaries: its tests check what config/ ships for operating
// mmelink against the binaries themselves. The alerts (config/prometheus) and the Grafana dashboard
// (config/grafana) may name only metrics the binaries register; the Argo CD health check
// (config/argocd/health.lua) must decide as kstatus does on status fixtures shaped as the controllers
// write them.
package observability
