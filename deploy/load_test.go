package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestKubernetesLoadJob: deploy/kubernetes/load decodes strictly into the
// API types; it is an Indexed Job with parallelism equal to completions,
// no retries and replacement only of failed pods; esgate is a native
// sidecar with the credential from the bootstrap Secret; the load
// container runs one shard whose N is the Job's completions, with a run
// id the same for every pod, and writes interval records.
func TestKubernetesLoadJob(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes", "load")
	if res := kustomizationResources(t, dir); !slices.Equal(res, []string{"job.yaml"}) {
		t.Fatalf("resources %v", res)
	}
	b, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(b, &job); err != nil {
		t.Fatalf("job.yaml: %v", err)
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Error("completionMode is not Indexed")
	}
	if s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism || *s.Completions < 2 {
		t.Errorf("parallelism must equal completions (all shards at once): %v, %v", s.Parallelism, s.Completions)
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
		t.Error("backoffLimit must be 0: a retried shard runs twice in one test")
	}
	if s.PodReplacementPolicy == nil || *s.PodReplacementPolicy != batchv1.Failed {
		t.Error("podReplacementPolicy must be Failed")
	}
	ps := s.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", ps.RestartPolicy)
	}
	if len(ps.InitContainers) != 1 || ps.InitContainers[0].RestartPolicy == nil || *ps.InitContainers[0].RestartPolicy != corev1.ContainerRestartPolicyAlways ||
		ps.InitContainers[0].Args[0] != "serve" {
		t.Fatal("esgate is not a native sidecar (an init container with restartPolicy Always running serve)")
	}
	secret := false
	for _, v := range ps.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "esgate-bootstrap" {
			secret = true
			for _, m := range ps.InitContainers[0].VolumeMounts {
				if m.Name == v.Name && m.SubPath != "" {
					t.Error("the Secret is mounted with subPath")
				}
			}
		}
	}
	if !secret || !slices.Contains(ps.InitContainers[0].Args, "/etc/esgate/bootstrap/esgate.secrets") {
		t.Error("esgate does not take its credential from the esgate-bootstrap Secret")
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	for _, x := range append(ps.InitContainers, c) {
		checkHardened(t, "load/"+x.Name, x, true)
	}
	arg := func(name string) string {
		i := slices.Index(c.Args, name)
		if i < 0 || i+1 >= len(c.Args) {
			t.Fatalf("the load container has no %s", name)
		}
		return c.Args[i+1]
	}
	if c.Args[0] != "load" {
		t.Fatalf("the load container runs %v", c.Args)
	}
	shard := arg("--shard")
	n, err := strconv.Atoi(strings.TrimPrefix(shard, "/"))
	if !strings.HasPrefix(shard, "/") || err != nil || int32(n) != *s.Completions {
		t.Errorf("--shard %s: want /N (I from JOB_COMPLETION_INDEX) with N = completions %d", shard, *s.Completions)
	}
	if arg("--output") != "records" || !strings.HasPrefix(arg("--target"), "http://127.0.0.1:") {
		t.Error("the shard must write records and load through the sidecar")
	}
	run := arg("--run-id")
	var runEnv *corev1.EnvVar
	for i := range c.Env {
		if "$("+c.Env[i].Name+")" == run {
			runEnv = &c.Env[i]
		}
	}
	if runEnv == nil || runEnv.ValueFrom == nil || runEnv.ValueFrom.FieldRef == nil ||
		runEnv.ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/controller-uid']" {
		t.Error("--run-id must be the Job's controller-uid (the same for every pod, new for each Job)")
	}
}
