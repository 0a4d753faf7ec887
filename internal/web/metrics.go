package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refused  prometheus.Counter
	// agentRefused counts the agent listener's refusals.
	agentRefused prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsunagi_http_requests_total", Help: "HTTP requests by listener, method and status code.",
		}, []string{"listener", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tsunagi_http_request_duration_seconds", Help: "HTTP request latency by listener.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"listener"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsunagi_mgmt_connections_refused_total", Help: "Management connections closed because the source is not allow-listed.",
		}),
		agentRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsunagi_agent_connections_refused_total", Help: "Agent connections closed because the source is not in --agent-allow.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.refused, m.agentRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(listener, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(listener, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(listener).Observe(d.Seconds())
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}
