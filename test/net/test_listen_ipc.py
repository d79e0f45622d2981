"""threads_listen('ipc:///path') never deletes what is at the path.

nng 1.5.2's ipc listener removes a "stale" path when its bind fails (it
connects to it, is refused by a file that is no socket, and unlinks it),
and removes its path when it closes.  The node refuses a path that exists
and is not a socket, with an error, and touches nothing.
"""
import os
import stat

from netlib import Peer, check, done

here = os.getcwd()
p = Peer("a.db")
p.q("SELECT threads_create('t')")

# A regular file, a directory and a symbolic link at the path.
path = os.path.join(here, "precious.txt")
data = b"do not delete me\n" * 100
with open(path, "wb") as f:
    f.write(data)
res = p.one("SELECT threads_listen('ipc://%s')" % path)
check("a regular file is refused",
      res == "ERROR: threads_listen: %s exists and is not a socket" % path, res)
with open(path, "rb") as f:
    check("...and survives byte-identical", f.read() == data)

d = os.path.join(here, "adir")
os.mkdir(d)
res = p.one("SELECT threads_listen('ipc://%s')" % d)
check("a directory is refused", res == "ERROR: threads_listen: %s exists and is not a socket" % d, res)
check("...and stays", os.path.isdir(d))

link = os.path.join(here, "alink")
os.symlink(path, link)
res = p.one("SELECT threads_listen('ipc://%s')" % link)
check("a symbolic link is refused",
      res == "ERROR: threads_listen: %s exists and is not a socket" % link, res)
check("...and stays, with its target", os.path.islink(link) and os.path.isfile(path))

# A free path: the node listens there, and the path is its socket.
sock = os.path.join(here, "node.ipc")
res = p.one("SELECT threads_listen('ipc://%s')" % sock)
check("a free path is listened on", res is not None and not res.startswith("ERROR"), res)
check("...and holds a socket", os.path.exists(sock) and stat.S_ISSOCK(os.lstat(sock).st_mode))
p.close()
with open(path, "rb") as f:
    check("the file is intact after the node closed", f.read() == data)
done()
