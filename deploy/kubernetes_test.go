package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document of the base's resources strictly into
// the official API types (an unknown or misspelt field fails).
func manifests(t *testing.T) []any {
	t.Helper()
	base := filepath.Join(repoRoot(t), "deploy", "kubernetes", "base")
	var out []any
	for _, res := range kustomizationResources(t, base) {
		b, err := os.ReadFile(filepath.Join(base, res))
		if err != nil {
			t.Fatalf("kustomization lists %s: %v", res, err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var head struct{ Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s[%d]: %v", res, i, err)
			}
			var obj any
			switch head.Kind {
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "Job":
				obj = &batchv1.Job{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "Service":
				obj = &corev1.Service{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "Role":
				obj = &rbacv1.Role{}
			case "RoleBinding":
				obj = &rbacv1.RoleBinding{}
			default:
				t.Fatalf("%s[%d]: kind %q is not checked here", res, i, head.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s[%d] (%s): %v", res, i, head.Kind, err)
			}
			out = append(out, obj)
		}
	}
	return out
}

// kustomizationResources decodes dir's kustomization.yaml strictly and
// returns the resources it lists.
func kustomizationResources(t *testing.T, dir string) []string {
	t.Helper()
	var kust struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Labels     []map[string]any `json:"labels"`
		Resources  []string         `json:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &kust); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return kust.Resources
}

func find[T any](objs []any) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// portOf resolves a probe's port against the container's ports.
func portOf(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// checkHardened: non-root, read-only root, no escalation, no capabilities.
func checkHardened(t *testing.T, where string, c corev1.Container, readOnlyRoot bool) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: securityContext must forbid privilege escalation and drop ALL capabilities", where)
	}
	if readOnlyRoot && (sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: root filesystem not read-only", where)
	}
}

// TestKubernetesSidecar: the manifests decode into the API types, esgate
// is a native sidecar (init container, restartPolicy Always) whose probes
// and metrics point at its status port, the status listener is bound off
// loopback so kubelet can reach it, Secrets are mounted whole (no subPath,
// so rotation reaches esgate), containers are hardened, and Logstash's
// output points at esgate's loopback route.
func TestKubernetesSidecar(t *testing.T) {
	objs := manifests(t)
	deps := find[appsv1.Deployment](objs)
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	pod := deps[0].Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("Logstash's pod mounts an API token it does not need")
	}
	var esgate *corev1.Container
	for i, c := range pod.InitContainers {
		if c.Name == "esgate" {
			esgate = &pod.InitContainers[i]
		}
	}
	if esgate == nil || esgate.RestartPolicy == nil || *esgate.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatal("esgate is not a native sidecar (an init container with restartPolicy: Always)")
	}
	args := strings.Join(esgate.Args, " ")
	if !strings.Contains(args, "--status-listen 0.0.0.0:9201") {
		t.Errorf("esgate args %q: the status listener must be on the pod IP for kubelet's httpGet probes", args)
	}
	for name, p := range map[string]*corev1.Probe{"startup": esgate.StartupProbe, "readiness": esgate.ReadinessProbe, "liveness": esgate.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("esgate has no %s httpGet probe", name)
			continue
		}
		if port, ok := portOf(*esgate, p.HTTPGet.Port); !ok || port != 9201 {
			t.Errorf("%s probe port %v is not esgate's status port 9201", name, p.HTTPGet.Port)
		}
		if want := map[string]string{"readiness": "/readyz"}[name]; want != "" && p.HTTPGet.Path != want {
			t.Errorf("%s probe path %q; expected %q", name, p.HTTPGet.Path, want)
		} else if want == "" && p.HTTPGet.Path != "/healthz" {
			t.Errorf("%s probe path %q; expected /healthz", name, p.HTTPGet.Path)
		}
	}
	if esgate.Resources.Requests.Memory().IsZero() || esgate.Resources.Limits.Memory().IsZero() {
		t.Error("esgate has no memory request and limit")
	}
	checkHardened(t, "esgate", *esgate, true)
	secretVolumes := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = true
		}
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		for _, m := range c.VolumeMounts {
			if secretVolumes[m.Name] && m.SubPath != "" {
				t.Errorf("%s mounts Secret volume %s with subPath: rotation would never reach it", c.Name, m.Name)
			}
		}
		if c.Name != "esgate" {
			checkHardened(t, c.Name, c, false)
		}
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("the pod may run as root")
	}

	// Prometheus: a Service port named metrics that reaches esgate's port.
	svcs := find[corev1.Service](objs)
	if len(svcs) != 1 || len(svcs[0].Spec.Ports) != 1 || svcs[0].Spec.Ports[0].Name != "metrics" ||
		svcs[0].Spec.Ports[0].TargetPort.StrVal != "metrics" {
		t.Error("no metrics Service targeting esgate's metrics port")
	}
	for k, v := range svcs[0].Spec.Selector {
		if deps[0].Spec.Template.Labels[k] != v {
			t.Errorf("the metrics Service selector %s=%s does not select the pod", k, v)
		}
	}

	// Logstash's pipeline talks to esgate, without credentials of its own.
	for _, cm := range find[corev1.ConfigMap](objs) {
		conf, ok := cm.Data["logstash.conf"]
		if !ok {
			continue
		}
		if !strings.Contains(conf, `hosts => ["http://127.0.0.1:9200"]`) {
			t.Error("Logstash's output does not point at esgate's publish route 127.0.0.1:9200")
		}
		for _, secret := range []string{"api_key", "password", "ssl_"} {
			if strings.Contains(conf, secret+" =>") {
				t.Errorf("Logstash's output sets %s: esgate holds the credential", secret)
			}
		}
	}

	// The bootstrap Job stores only the Secret it may touch.
	jobs := find[batchv1.Job](objs)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs", len(jobs))
	}
	jp := jobs[0].Spec.Template.Spec
	if len(jp.InitContainers) != 1 || jp.InitContainers[0].Args[0] != "bootstrap" {
		t.Error("the Job does not run esgate bootstrap first")
	}
	for _, c := range append(jp.InitContainers, jp.Containers...) {
		checkHardened(t, "job/"+c.Name, c, true)
	}
	for _, r := range find[rbacv1.Role](objs) {
		for _, rule := range r.Rules {
			if fmt.Sprint(rule.Resources) != "[secrets]" {
				t.Errorf("the bootstrap Role grants %v", rule.Resources)
			}
			for _, verb := range rule.Verbs {
				if verb != "create" && (len(rule.ResourceNames) != 1 || rule.ResourceNames[0] != "esgate-bootstrap") {
					t.Errorf("the bootstrap Role may %s any Secret", verb)
				}
			}
		}
	}
}
