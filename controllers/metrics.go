package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// renders counts QR renderings by kind. A restart of the manager should not move it: content whose
// inputs did not change is never rendered again.
var renders = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "mmelink_qr_renders_total",
	Help: "QR code renderings (PNG and SVG of one link) by kind of resource.",
}, []string{"kind"})

// Registered as every package here registers its collectors, with MustRegister; at init and in
// controller-runtime's registry, which the manager serves, because the count spans manager restarts
// within one process (TestRestartRendersAndWritesNothing).
func init() {
	metrics.Registry.MustRegister(MetricCollectors()...)
}
