"""Where student code runs: bubblewrap's sandbox for each kernel (``bwrap``), what one submission may use and
the cgroup that holds it to that (``limits``), one submission in a process of its own (``isolate``), and a
root-less sandbox's socket folder made read-only from outside (``seal``)."""
