// Package metrics exposes what the delivery engine does as Prometheus
// metrics: deliveries by state, SMTP reply classes, retries, pass duration
// and queue depth. It implements delivery.Observer.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	digest "github.com/newsroom/digest"
)

// Metrics holds the collectors, registered on their own registry so tests
// and several instances never collide on the global one.
type Metrics struct {
	registry     *prometheus.Registry
	deliveries   *prometheus.CounterVec
	smtpReplies  *prometheus.CounterVec
	retries      prometheus.Counter
	passDuration prometheus.Histogram
	queueDepth   prometheus.Gauge
	lastPass     prometheus.Gauge
}

// New returns Metrics with every series at zero, so dashboards and alerts
// see them before the first pass.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_deliveries_total",
			Help: "Deliveries that reached a state, by state (sent, deferred, failed, expired, suppressed).",
		}, []string{"state"}),
		smtpReplies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "digest_smtp_replies_total",
			Help: "SMTP outcomes of send attempts, by class (2xx, 4xx, 5xx, network).",
		}, []string{"class"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "digest_retries_total",
			Help: "Deliveries deferred for a later attempt.",
		}),
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "digest_pass_duration_seconds",
			Help:    "Wall time of delivery passes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10), // 10 ms .. ~45 min
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "digest_queue_depth",
			Help: "Deliveries queued or deferred at the end of the last pass.",
		}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "digest_last_pass_timestamp_seconds",
			Help: "Unix time the last pass ended; alert when it stops moving.",
		}),
	}
	m.registry.MustRegister(m.deliveries, m.smtpReplies, m.retries, m.passDuration, m.queueDepth, m.lastPass,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []digest.DeliveryStatus{digest.DeliverySent, digest.DeliveryDeferred, digest.DeliveryFailed,
		digest.DeliveryExpired, digest.DeliverySuppressed} {
		m.deliveries.WithLabelValues(string(s))
	}
	for _, c := range []string{"2xx", "4xx", "5xx", "network"} {
		m.smtpReplies.WithLabelValues(c)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// DeliveryDone counts a delivery reaching a state.
func (m *Metrics) DeliveryDone(status digest.DeliveryStatus) {
	m.deliveries.WithLabelValues(string(status)).Inc()
}

// SMTPReply counts an SMTP outcome by class.
func (m *Metrics) SMTPReply(class string) { m.smtpReplies.WithLabelValues(class).Inc() }

// Retry counts a deferral.
func (m *Metrics) Retry() { m.retries.Inc() }

// PassDone records a finished pass.
func (m *Metrics) PassDone(d time.Duration, queueDepth int) {
	m.passDuration.Observe(d.Seconds())
	m.queueDepth.Set(float64(queueDepth))
	m.lastPass.SetToCurrentTime()
}
