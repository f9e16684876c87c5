"""Write the embedded toy domains (source "synthetic", target "real") under a data root."""
import argparse

from mmuda.datasets.toy_domains import ToyDomainsSpec, generate_toy_domains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/toy_domains', help='output root')
    parser.add_argument('--num-train', type=int, default=ToyDomainsSpec.num_train)
    parser.add_argument('--num-val', type=int, default=ToyDomainsSpec.num_val)
    parser.add_argument('--height', type=int, default=ToyDomainsSpec.height)
    parser.add_argument('--width', type=int, default=ToyDomainsSpec.width)
    parser.add_argument('--seed', type=int, default=ToyDomainsSpec.seed)
    args = parser.parse_args()
    spec = ToyDomainsSpec(height=args.height, width=args.width, num_train=args.num_train,
                          num_val=args.num_val, seed=args.seed)
    for domain, path in generate_toy_domains(args.out, spec).items():
        print(f'{domain}: {path}')


if __name__ == '__main__':
    main()
