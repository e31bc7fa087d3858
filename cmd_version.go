package main

import (
	"fmt"
	"io"
	"runtime"

	etcdversion "go.etcd.io/etcd/api/v3/version"
)

type versionCmd struct{}

func (versionCmd) Run(stdout io.Writer) error {
	fmt.Fprintf(stdout, "etcdbrctl %s\netcd %s\n%s %s/%s\n", version, etcdversion.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
