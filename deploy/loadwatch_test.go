package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestKubernetesLoadWatched: the load Job's shards spread one per node
// where possible, each serves its metrics on a named port that its
// scrape annotations and --metrics-listen agree on, with a grace period
// longer than the PodMonitor's interval; monitoring/ is the Job plus a
// PodMonitor (decoded strictly) that selects the Job's pods on that port.
func TestKubernetesLoadWatched(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes", "load")
	b, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(b, &job); err != nil {
		t.Fatalf("job.yaml: %v", err)
	}
	tpl := job.Spec.Template
	podLabels := tpl.Labels
	spread := tpl.Spec.TopologySpreadConstraints
	if len(spread) != 1 || spread[0].TopologyKey != corev1.LabelHostname || spread[0].MaxSkew != 1 ||
		spread[0].WhenUnsatisfiable != corev1.ScheduleAnyway || spread[0].LabelSelector == nil ||
		!selects(spread[0].LabelSelector.MatchLabels, podLabels) || !slices.Contains(spread[0].MatchLabelKeys, batchv1.ControllerUidLabel) {
		t.Errorf("topologySpreadConstraints %+v: want one shard per node (kubernetes.io/hostname, maxSkew 1, ScheduleAnyway) among this Job's pods", spread)
	}
	c := tpl.Spec.Containers[0]
	arg := func(name string) string {
		i := slices.Index(c.Args, name)
		if i < 0 || i+1 >= len(c.Args) {
			t.Fatalf("the load container has no %s", name)
		}
		return c.Args[i+1]
	}
	_, port, _ := strings.Cut(arg("--metrics-listen"), ":")
	var metricsPort *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "metrics" {
			metricsPort = &c.Ports[i]
		}
	}
	if metricsPort == nil || strconv.Itoa(int(metricsPort.ContainerPort)) != port {
		t.Fatalf("the metrics port %+v is not --metrics-listen's %s", metricsPort, port)
	}
	a := tpl.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != port || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v", a)
	}

	mdir := filepath.Join(dir, "monitoring")
	if res := kustomizationResources(t, mdir); !slices.Equal(res, []string{"..", "podmonitor.yaml"}) {
		t.Fatalf("monitoring resources %v", res)
	}
	// The PodMonitor's fields, as monitoring.coreos.com/v1 names them.
	var pm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
		Spec       struct {
			Selector            metav1.LabelSelector `json:"selector"`
			PodMetricsEndpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	b, err = os.ReadFile(filepath.Join(mdir, "podmonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &pm); err != nil {
		t.Fatalf("podmonitor.yaml: %v", err)
	}
	if pm.APIVersion != "monitoring.coreos.com/v1" || pm.Kind != "PodMonitor" || !selects(pm.Spec.Selector.MatchLabels, podLabels) ||
		len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("PodMonitor %+v does not select the Job's pods", pm)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port != "metrics" || ep.Path != "/metrics" {
		t.Errorf("PodMonitor endpoint %+v", ep)
	}
	interval, err1 := parseSeconds(ep.Interval)
	grace, err2 := parseSeconds(arg("--metrics-grace"))
	if err1 != nil || err2 != nil || grace < interval {
		t.Errorf("--metrics-grace %s shorter than the scrape interval %s: the last scrape may miss the final counts", arg("--metrics-grace"), ep.Interval)
	}
}

func parseSeconds(s string) (int, error) {
	return strconv.Atoi(strings.TrimSuffix(s, "s"))
}

// selects reports whether every label of sel is on labels.
func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestLoadDashboard: the Grafana dashboard parses; every query names only
// metrics esgate load exports (the list test/load's test keeps equal to
// what it registers, test/load/testdata/metric-names.txt), filters by the
// run_id variable, and the panels cover throughput, errors and latency
// percentiles by shard and in total.
func TestLoadDashboard(t *testing.T) {
	root := repoRoot(t)
	names, err := os.ReadFile(filepath.Join(root, "test", "load", "testdata", "metric-names.txt"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, n := range strings.Fields(string(names)) {
		known[n] = true
	}
	if len(known) < 5 {
		t.Fatalf("%d metric names", len(known))
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "kubernetes", "load", "monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`\besgate_[a-z0-9_]+`)
	check := func(where, expr string) {
		ms := metric.FindAllString(expr, -1)
		if len(ms) == 0 {
			t.Errorf("%s: %q queries no esgate metric", where, expr)
		}
		for _, m := range ms {
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suf); ok && known[b] {
					base = b
				}
			}
			if !known[base] {
				t.Errorf("%s: %s is not a metric esgate load exports", where, m)
			}
		}
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
			if !strings.Contains(tg.Expr, `run_id="$run_id"`) {
				t.Errorf("panel %q: %q is not for one run_id", p.Title, tg.Expr)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	runVar := false
	for _, v := range d.Templating.List {
		if v.Name == "run_id" {
			runVar = true
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatal(err)
			}
			check("variable run_id", q.Query)
		}
	}
	if !runVar {
		t.Error("no run_id variable")
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		`sum(rate(esgate_load_events_total{run_id="$run_id",result="acknowledged"}`,
		`sum by (shard) (rate(esgate_load_events_total{run_id="$run_id",result="acknowledged"}`,
		`result=~"failed|dropped"`,
		`histogram_quantile(0.99, sum by (le) (`,
		`histogram_quantile(0.99, sum by (le, shard) (`,
		`histogram_quantile(0.5, sum by (le) (`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
}
