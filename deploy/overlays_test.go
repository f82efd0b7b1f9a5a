package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// overlayKustomization is what the overlays' kustomization.yaml may hold
// (decoded strictly: a misspelt field fails).
type overlayKustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Labels     []map[string]any `json:"labels"`
	Resources  []string         `json:"resources"`
	Images     []map[string]any `json:"images"`
	Patches    []struct {
		Path string `json:"path"`
	} `json:"patches"`
}

// build renders a kustomization the way `kubectl kustomize` does for what
// these overlays use: resources (files, or directories built in turn),
// then strategic-merge patches matched by kind and name, with the API's
// merge keys (containers, initContainers, volumes, env by name;
// volumeMounts by mountPath) and the $patch: delete directive, on list
// items and on whole objects. Lists without a merge key are replaced.
func build(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var k overlayKustomization
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	var objs []map[string]any
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			objs = append(objs, build(t, p)...)
			continue
		}
		objs = append(objs, docs(t, p)...)
	}
	for _, p := range k.Patches {
		for _, patch := range docs(t, filepath.Join(dir, p.Path)) {
			i := slices.IndexFunc(objs, func(o map[string]any) bool { return o["kind"] == patch["kind"] && name(o) == name(patch) })
			if i < 0 {
				t.Fatalf("%s: patch %s/%s matches no resource", p.Path, patch["kind"], name(patch))
			}
			if patch["$patch"] == "delete" {
				objs = slices.Delete(objs, i, i+1)
				continue
			}
			objs[i] = merge(objs[i], patch, "")
		}
	}
	return objs
}

func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i, doc := range bytes.Split(b, []byte("\n---\n")) {
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("%s[%d]: %v", path, i, err)
		}
		out = append(out, m)
	}
	return out
}

func name(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	return n
}

var mergeKeys = map[string]string{"containers": "name", "initContainers": "name", "volumes": "name", "env": "name", "volumeMounts": "mountPath"}

// merge applies a strategic-merge patch to dst (field is the key dst sits under).
func merge(dst, patch map[string]any, field string) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, pv := range patch {
		if k == "$patch" {
			continue
		}
		switch pv := pv.(type) {
		case map[string]any:
			cur, _ := dst[k].(map[string]any)
			dst[k] = merge(cur, pv, k)
		case []any:
			key := mergeKeys[k]
			cur, _ := dst[k].([]any)
			if key == "" {
				dst[k] = pv
				continue
			}
			for _, item := range pv {
				im, _ := item.(map[string]any)
				j := slices.IndexFunc(cur, func(c any) bool { cm, _ := c.(map[string]any); return cm[key] == im[key] })
				switch {
				case im["$patch"] == "delete" && j >= 0:
					cur = slices.Delete(cur, j, j+1)
				case im["$patch"] == "delete":
				case j >= 0:
					cur[j] = merge(cur[j].(map[string]any), im, k)
				default:
					cur = append(cur, merge(nil, im, k))
				}
			}
			dst[k] = cur
		case nil:
			delete(dst, k)
		default:
			dst[k] = pv
		}
	}
	return dst
}

// typed decodes built objects strictly into the API types.
func typed(t *testing.T, objs []map[string]any) []any {
	t.Helper()
	var out []any
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch o["kind"] {
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
			t.Fatalf("%s/%s: kind is not checked here", o["kind"], name(o))
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s/%s: %v", o["kind"], name(o), err)
		}
		out = append(out, obj)
	}
	return out
}

// checkMounts: every mount names a volume of the pod; Secret and projected
// volumes are mounted whole (a subPath mount never sees a rotation).
func checkMounts(t *testing.T, where string, pod corev1.PodSpec) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		for _, m := range c.VolumeMounts {
			v, ok := vols[m.Name]
			if !ok {
				t.Errorf("%s/%s mounts %s, which is no volume", where, c.Name, m.Name)
			}
			if (v.Secret != nil || v.Projected != nil) && m.SubPath != "" {
				t.Errorf("%s/%s mounts %s with subPath: rotation would never reach it", where, c.Name, m.Name)
			}
		}
	}
}

func container(pod corev1.PodSpec, name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{pod.InitContainers, pod.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	return nil
}

// arg returns the value after flag in args ("" if absent).
func arg(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// mountedFile resolves a file path in c to the volume and the key in it.
func mountedFile(c *corev1.Container, path string) (volume, rel string) {
	for _, m := range c.VolumeMounts {
		if r, ok := strings.CutPrefix(path, m.MountPath+"/"); ok {
			return m.Name, r
		}
	}
	return "", ""
}

// TestKubernetesJWTOverlay: deploy/kubernetes/overlays/jwt builds into
// valid API objects; esgate reads a projected service-account token
// (audience elasticsearch, 600 s) of a dedicated ServiceAccount through
// bearer_token_file and holds no stored credential; the bootstrap Job maps
// that ServiceAccount's principal with --jwt-kubernetes and needs no
// access to Secrets.
func TestKubernetesJWTOverlay(t *testing.T) {
	objs := typed(t, build(t, filepath.Join(repoRoot(t), "deploy", "kubernetes", "overlays", "jwt")))
	deps := find[appsv1.Deployment](objs)
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	pod := deps[0].Spec.Template.Spec
	checkMounts(t, "logstash", pod)
	sa := pod.ServiceAccountName
	if sa == "" || sa == "default" || !slices.ContainsFunc(find[corev1.ServiceAccount](objs), func(s *corev1.ServiceAccount) bool { return s.Name == sa }) {
		t.Fatalf("the pod's ServiceAccount %q is not a dedicated one of the overlay", sa)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts the default API token: only the projected one is needed")
	}
	esgate := container(pod, "esgate")
	if esgate == nil || esgate.RestartPolicy == nil || *esgate.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatal("esgate is not a native sidecar")
	}
	checkHardened(t, "esgate", *esgate, true)
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName != "es-ca" {
			t.Errorf("the pod mounts Secret %s: esgate needs no stored credential", v.Secret.SecretName)
		}
	}

	// esgate's config: from a ConfigMap volume, naming the token file.
	cfgVol, cfgKey := mountedFile(esgate, arg(esgate.Args, "--config"))
	var cfgText string
	for _, v := range pod.Volumes {
		if v.Name == cfgVol && v.ConfigMap != nil {
			for _, cm := range find[corev1.ConfigMap](objs) {
				if cm.Name == v.ConfigMap.Name {
					cfgText = cm.Data[cfgKey]
				}
			}
		}
	}
	var cfg map[string]any
	if err := yaml.UnmarshalStrict([]byte(cfgText), &cfg); err != nil || cfgText == "" {
		t.Fatalf("esgate --config %q is no ConfigMap key of the overlay: %v", arg(esgate.Args, "--config"), err)
	}
	for _, k := range []string{"password", "password_file", "api_key", "api_key_file", "bearer_token", "cloud_auth"} {
		if _, ok := cfg[k]; ok {
			t.Errorf("esgate's config sets %s", k)
		}
	}
	tokenFile, _ := cfg["bearer_token_file"].(string)
	tokVol, tokPath := mountedFile(esgate, tokenFile)
	var proj *corev1.ServiceAccountTokenProjection
	for _, v := range pod.Volumes {
		if v.Name == tokVol && v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == tokPath {
					proj = s.ServiceAccountToken
				}
			}
		}
	}
	if proj == nil {
		t.Fatalf("bearer_token_file %q is not a projected serviceAccountToken mounted into esgate", tokenFile)
	}
	if proj.Audience != "elasticsearch" || proj.ExpirationSeconds == nil || *proj.ExpirationSeconds != 600 {
		t.Errorf("projected token: audience %q, expirationSeconds %d; want elasticsearch, 600", proj.Audience, ptrOr(proj.ExpirationSeconds))
	}
	ca, _ := cfg["ssl_certificate_authorities"].(string)
	if v, _ := mountedFile(esgate, ca); v != "es-ca" {
		t.Errorf("ssl_certificate_authorities %q is not in the es-ca mount", ca)
	}
	routes, _ := cfg["routes"].([]any)
	if len(routes) != 1 || fmt.Sprint(routes[0].(map[string]any)["listen"]) != "127.0.0.1:9200" {
		t.Errorf("routes %v: want the publish route on 127.0.0.1:9200, where Logstash's output points", routes)
	}

	// The bootstrap Job maps this ServiceAccount's principal.
	jobs := find[batchv1.Job](objs)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs", len(jobs))
	}
	jp := jobs[0].Spec.Template.Spec
	checkMounts(t, "job", jp)
	if len(jp.InitContainers) != 0 || len(jp.Containers) != 1 || jp.Containers[0].Args[0] != "bootstrap" {
		t.Fatalf("the Job runs %d init containers and %d containers; want bootstrap alone", len(jp.InitContainers), len(jp.Containers))
	}
	bs := jp.Containers[0]
	checkHardened(t, "job/bootstrap", bs, true)
	principal := arg(bs.Args, "--jwt-principal")
	if arg(bs.Args, "--jwt-realm") == "" || !strings.HasPrefix(principal, "system:serviceaccount:") || !strings.HasSuffix(principal, ":"+sa) ||
		!slices.Contains(bs.Args, "--jwt-kubernetes") || !strings.HasPrefix(arg(bs.Args, "--jwt-issuer"), "https://") {
		t.Errorf("bootstrap args %v: want --jwt-realm, --jwt-principal system:serviceaccount:<ns>:%s, --jwt-kubernetes, --jwt-issuer https://…", bs.Args, sa)
	}
	if len(find[rbacv1.Role](objs))+len(find[rbacv1.RoleBinding](objs)) != 0 {
		t.Error("the Job keeps access to Secrets it no longer stores")
	}
}

// TestKubernetesECKOverlay: deploy/kubernetes/overlays/eck builds into
// valid API objects that take the CA from <name>-es-http-certs-public
// (ca.crt) and bootstrap's admin password from <name>-es-elastic-user
// (elastic), for the same <name> as the hosts' <name>-es-http Service.
func TestKubernetesECKOverlay(t *testing.T) {
	objs := typed(t, build(t, filepath.Join(repoRoot(t), "deploy", "kubernetes", "overlays", "eck")))
	jobs := find[batchv1.Job](objs)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs", len(jobs))
	}
	jp := jobs[0].Spec.Template.Spec
	checkMounts(t, "job", jp)
	bs := container(jp, "bootstrap")
	host := arg(bs.Args, "--hosts")
	es, ok := strings.CutSuffix(strings.TrimPrefix(host, "https://"), "-es-http:9200")
	if !ok || es == "" {
		t.Fatalf("--hosts %q is not ECK's https://<name>-es-http:9200", host)
	}
	// secretKey resolves a file path in c to the Secret and key behind it.
	secretKey := func(pod corev1.PodSpec, c *corev1.Container, path string) (string, string) {
		vol, rel := mountedFile(c, path)
		for _, v := range pod.Volumes {
			if v.Name != vol || v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return v.Secret.SecretName, rel
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					return v.Secret.SecretName, it.Key
				}
			}
		}
		return "", ""
	}
	ca := arg(bs.Args, "--ssl-certificate-authorities")
	if s, k := secretKey(jp, bs, ca); s != es+"-es-http-certs-public" || k != "ca.crt" {
		t.Errorf("bootstrap's CA %s is Secret %q key %q; want %s-es-http-certs-public ca.crt", ca, s, k, es)
	}
	if s, k := secretKey(jp, bs, arg(bs.Args, "--password-file")); s != es+"-es-elastic-user" || k != "elastic" || arg(bs.Args, "--user") != "elastic" {
		t.Errorf("bootstrap's admin is --user %s with Secret %q key %q; want elastic from %s-es-elastic-user", arg(bs.Args, "--user"), s, k, es)
	}

	// The sidecar finds the CA where the secrets file (written by the Job) names it.
	deps := find[appsv1.Deployment](objs)
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	pod := deps[0].Spec.Template.Spec
	checkMounts(t, "logstash", pod)
	if s, k := secretKey(pod, container(pod, "esgate"), ca); s != es+"-es-http-certs-public" || k != "ca.crt" {
		t.Errorf("esgate's CA %s is Secret %q key %q; want %s-es-http-certs-public ca.crt", ca, s, k, es)
	}
	for _, p := range []corev1.PodSpec{jp, pod} {
		for _, v := range p.Volumes {
			if v.Secret != nil && (v.Secret.SecretName == "es-ca" || v.Secret.SecretName == "es-admin") {
				t.Errorf("volume %s still uses the base's Secret %s", v.Name, v.Secret.SecretName)
			}
		}
	}
}

// TestOverlayMerge: the patch rules build applies, on the cases the
// overlays use.
func TestOverlayMerge(t *testing.T) {
	parse := func(s string) map[string]any {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	got := merge(parse(`
spec:
  containers: [{name: a, args: [x, y], volumeMounts: [{name: v, mountPath: /v}, {name: w, mountPath: /w}]}, {name: b}]
  volumes: [{name: v, secret: {secretName: s}}, {name: w}]
`), parse(`
spec:
  containers:
    - {name: a, args: [z], volumeMounts: [{mountPath: /v, $patch: delete}, {name: u, mountPath: /u}]}
    - {name: b, $patch: delete}
    - {name: c}
  volumes: [{name: v, secret: {secretName: t, items: [{key: k, path: p}]}}, {name: w, $patch: delete}]
`), "")
	want := parse(`
spec:
  containers: [{name: a, args: [z], volumeMounts: [{name: w, mountPath: /w}, {name: u, mountPath: /u}]}, {name: c}]
  volumes: [{name: v, secret: {secretName: t, items: [{key: k, path: p}]}}]
`)
	g, _ := yaml.Marshal(got)
	w, _ := yaml.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("merged:\n%s\nwant:\n%s", g, w)
	}
}

func ptrOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
