"""checkov's command line, with bc-jsonpath-ng's PLY parser built once per grammar.

Run by the python of the checkov environment Charter manages (charter/toolenv.py), never
imported by Charter: it must not import `charter` (that environment has none) and uses only
the standard library at module level.

Why: bc-jsonpath-ng 1.6.1 (checkov 3.3.30's pin) rebuilds its LALR tables with
`ply.yacc.yacc()` on every parse, ~45 ms each, for the few hundred distinct JSONPaths of
checkov's graph checks: 93% of checkov's CPU on Charter's templates. The fix is offered
upstream (docs/upstream/checkov-parser-cache.md, docs/upstream/bc-jsonpath-ng-parser-cache.patch);
until a release carries it, this applies the same change at run time. `parse_token_stream`
below is the patched function of that patch, line for line. It is installed only over the exact
function it was written against (a hash of its source): any other bc-jsonpath-ng runs as
released, slower but the same, and tests/charter/test_toolenv_checkov_launch.py fails so the
pin bump revisits this. Drop this file when the pins carry a bc-jsonpath-ng with the cache.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import threading
import warnings

#: sha256 of `inspect.getsource(JsonPathParser.parse_token_stream)` in bc-jsonpath-ng 1.6.1
REPLACED_SOURCE_SHA256 = "55f7ac724d159cae61290caff1e2ef056f729ad75e0e3bc4a8026ca39e10913f"

#: per thread: (parser class, start symbol, debug) -> its PLY parser
_parsers = threading.local()


def parse_token_stream(self, token_iterator, start_symbol: str = "jsonpath"):  # type: ignore[no-untyped-def]
    # bc_jsonpath_ng.parser's own globals, as the method sees them in its module
    import bc_jsonpath_ng.parser as mod

    output_directory = os.path.dirname(mod.__file__)
    try:
        module_name = os.path.splitext(os.path.split(mod.__file__)[1])[0]
    except Exception:
        module_name = mod.__name__

    parsing_table_module = "_".join([module_name, start_symbol, "parsetab"])

    # Building the LALR tables costs ~40 ms, once per grammar: the grammar is this class's
    # p_* methods, which keep no state on the instance, so one parser per (class, start
    # symbol, debug) serves every later parse. PLY's LRParser keeps its stacks on itself
    # while parsing, so each thread has its own.
    key = (type(self), start_symbol, self.debug)
    parsers = _parsers.__dict__.setdefault("by_grammar", {})
    new_parser = parsers.get(key)
    if new_parser is None:
        new_parser = parsers[key] = mod.ply.yacc.yacc(
            module=self,
            debug=self.debug,
            tabmodule=parsing_table_module,
            outputdir=output_directory,
            write_tables=0,
            start=start_symbol,
            errorlog=mod.logger,
        )

    return new_parser.parse(lexer=mod.IteratorToTokenStream(token_iterator))


def replaced_source_sha256() -> str:
    """The hash of the installed `JsonPathParser.parse_token_stream` (the function the cache replaces)."""
    from bc_jsonpath_ng.parser import JsonPathParser

    return hashlib.sha256(inspect.getsource(JsonPathParser.parse_token_stream).encode()).hexdigest()


def install_parser_cache() -> bool:
    """Put the cached `parse_token_stream` in place; False (nothing changed) if the installed
    function is not the one it was written against."""
    from bc_jsonpath_ng.parser import JsonPathParser

    if JsonPathParser.parse_token_stream is parse_token_stream:
        return True
    if replaced_source_sha256() != REPLACED_SOURCE_SHA256:
        return False
    JsonPathParser.parse_token_stream = parse_token_stream  # type: ignore[method-assign]
    return True


def main() -> int | None:
    install_parser_cache()
    from checkov.main import Checkov

    # as checkov's own console script does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SyntaxWarning)
        return Checkov().run()


if __name__ == "__main__":
    # run by file path: this folder (Charter's package) must not shadow checkov's imports
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.exit(main())
