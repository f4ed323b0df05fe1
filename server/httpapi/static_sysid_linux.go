package httpapi

import (
	"io/fs"
	"syscall"
)

// sysID is the part of a file's identity that fs.FileInfo leaves out: on
// Linux the device, inode and change time, so that a file replaced by
// another of the same size and modification time (cp -p, rsync -t, a
// rename over it) still counts as changed.
type sysID struct {
	dev, ino uint64
	ctime    int64
}

func sysIdentity(info fs.FileInfo) sysID {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return sysID{}
	}
	return sysID{dev: uint64(st.Dev), ino: st.Ino, ctime: st.Ctim.Nano()}
}
