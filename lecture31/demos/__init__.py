"""What goes beyond the homework and only measures or prints: each one a command of its own.

    python -m lecture31.demos.breakerspacing    how often a seeded harness shows every state
    python -m lecture31.demos.fanoutcensoring   why the adaptive timeout settles low, measured
    python -m lecture31.demos.footprint         peak memory of the runners at 10^3-10^5
    python -m lecture31.demos.coldstart         cold start of each process start method
    scaleout, clustermeasure                    the scale-out model and the CPU tier's
                                                overheads: python -m lecture31.cluster ...

They sit on top of the library: they import it, nothing in it imports them.
"""
