package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strings"
)

// valueMaker makes the values the benchmark fills etcd with.
type valueMaker func(rng *mrand.Rand, i int) []byte

func valuesFor(kind string) (valueMaker, error) {
	switch kind {
	case "k8s":
		return podLike, nil
	case "random":
		return randomValue, nil
	}
	return nil, fmt.Errorf("-data %q: want k8s or random", kind)
}

// randomValue is incompressible: the worst case for a compressing backup.
func randomValue(_ *mrand.Rand, _ int) []byte {
	v := make([]byte, 32<<10)
	rand.Read(v)
	return v
}

// podLike is shaped like what etcd holds in a Kubernetes cluster: JSON
// objects whose field names and many values repeat, with unique names,
// UIDs, hashes, addresses and times in each.
func podLike(rng *mrand.Rand, i int) []byte {
	hexs := func(n int) string {
		b := make([]byte, n/2)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		return hex.EncodeToString(b)
	}
	app := fmt.Sprintf("app-%d", rng.IntN(300))
	ns := fmt.Sprintf("team-%d", rng.IntN(40))
	ts := fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02dZ", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))
	var env strings.Builder
	for j := range 4 + rng.IntN(12) {
		fmt.Fprintf(&env, `{"name":"SETTING_%d","value":"%s"},`, j, hexs(8+rng.IntN(24)))
	}
	var conds strings.Builder
	for _, c := range []string{"Initialized", "Ready", "ContainersReady", "PodScheduled"} {
		fmt.Fprintf(&conds, `{"type":"%s","status":"True","lastProbeTime":null,"lastTransitionTime":"%s"},`, c, ts)
	}
	return fmt.Appendf(nil, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"%s-%s-%s","generateName":"%s-%s-","namespace":"%s",`+
		`"uid":"%s-%s-%s-%s-%s","resourceVersion":"%d","creationTimestamp":"%s",`+
		`"labels":{"app.kubernetes.io/name":"%s","app.kubernetes.io/part-of":"%s","pod-template-hash":"%s"},`+
		`"annotations":{"checksum/config":"%s","prometheus.io/scrape":"true","prometheus.io/port":"9090"},`+
		`"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"%s-%s","uid":"%s","controller":true,"blockOwnerDeletion":true}],`+
		`"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"%s","fieldsType":"FieldsV1",`+
		`"fieldsV1":{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},`+
		`"f:spec":{"f:containers":{"k:{\"name\":\"main\"}":{".":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{},"f:resources":{}}},`+
		`"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}},`+
		`{"manager":"kubelet","operation":"Update","apiVersion":"v1","time":"%s","fieldsType":"FieldsV1","subresource":"status",`+
		`"fieldsV1":{"f:status":{"f:conditions":{},"f:containerStatuses":{},"f:hostIP":{},"f:phase":{},"f:podIP":{},"f:podIPs":{},"f:startTime":{}}}}]},`+
		`"spec":{"containers":[{"name":"main","image":"%s:v1.%d.%d","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],`+
		`"env":[%s{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],`+
		`"resources":{"limits":{"cpu":"%dm","memory":"%dMi"},"requests":{"cpu":"%dm","memory":"%dMi"}},`+
		`"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],`+
		`"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default",`+
		`"nodeName":"node-%d","securityContext":{},"schedulerName":"default-scheduler","priority":0,"enableServiceLinks":true},`+
		`"status":{"phase":"Running","conditions":[%s{}],"hostIP":"10.0.%d.%d","podIP":"10.%d.%d.%d","startTime":"%s",`+
		`"containerStatuses":[{"name":"main","ready":true,"restartCount":%d,"image":"%s:v1.%d.%d","imageID":"sha256:%s",`+
		`"containerID":"containerd://%s","started":true,"state":{"running":{"startedAt":"%s"}}}],"qosClass":"Burstable"}}`,
		app, hexs(10), hexs(5), app, hexs(10), ns,
		hexs(8), hexs(4), hexs(4), hexs(4), hexs(12), 1000000+i, ts,
		app, ns, hexs(10),
		hexs(64),
		app, hexs(10), hexs(32),
		ts, ts,
		app, rng.IntN(30), rng.IntN(10),
		env.String(),
		100*(1+rng.IntN(20)), 64*(1+rng.IntN(32)), 50*(1+rng.IntN(10)), 32*(1+rng.IntN(16)),
		rng.IntN(500),
		conds.String(), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), ts,
		rng.IntN(3), app, rng.IntN(30), rng.IntN(10), hexs(64),
		hexs(64), ts)
}
