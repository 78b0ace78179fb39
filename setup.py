"""The one C extension, optional: lab._udpbatch (recvmmsg/sendmmsg for the UDP servers).

Everything else is in pyproject.toml. Where no C compiler or Python headers are, the build goes
on without it and the servers use their pure-Python UDP path (docs/libraries.md).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "lab._udpbatch",
            ["lab/_udpbatch.c"],
            optional=True,
            extra_compile_args=[
                "-Wall",
                "-Wextra",
                "-Wno-missing-field-initializers",
                "-Werror=implicit-function-declaration",
            ],
        )
    ]
)
