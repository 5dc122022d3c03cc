using System.Reflection;
using System.Reflection.Emit;

namespace CanKit.Tests;

/// <summary>
/// Which types a compiled assembly's types use: their base types, interfaces, fields, properties, method signatures,
/// custom attributes, and every type, method and field a method body names (read from the IL's metadata tokens).
/// Compiler-generated types (lambdas' closures, iterators, async state machines) count for the type they belong to.
/// </summary>
internal static class Dependencies
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>Every (user, used) pair of types, users from <paramref name="assembly"/>, used from anywhere.</summary>
    public static IEnumerable<(Type User, Type Used)> Of(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static |
                                 BindingFlags.DeclaredOnly;
        foreach (var type in assembly.GetTypes())
        {
            var used = new HashSet<Type>();
            void Add(Type? t)
            {
                if (t is null) return;
                if (t.HasElementType) { Add(t.GetElementType()); return; }
                if (t.IsGenericType && !t.IsGenericTypeDefinition)
                {
                    foreach (var a in t.GetGenericArguments()) Add(a);
                    t = t.GetGenericTypeDefinition();
                }
                if (!t.IsGenericParameter) used.Add(t);
            }
            Add(type.BaseType);
            foreach (var i in type.GetInterfaces()) Add(i);
            foreach (var a in type.CustomAttributes) Add(a.AttributeType);
            foreach (var f in type.GetFields(all)) Add(f.FieldType);
            foreach (var p in type.GetProperties(all)) Add(p.PropertyType);
            foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                if (m is MethodInfo mi) Add(mi.ReturnType);
                foreach (var p in m.GetParameters()) Add(p.ParameterType);
                var body = m.GetMethodBody();
                if (body is null) continue;
                foreach (var v in body.LocalVariables) Add(v.LocalType);
                foreach (var member in TokensOf(body.GetILAsByteArray()!, m)) Add(member);
            }
            foreach (var u in used) yield return (type, u);
        }
    }

    // The types that the IL's type, method and field tokens name (the declaring type of a method or field).
    private static IEnumerable<Type?> TokensOf(byte[] il, MethodBase method)
    {
        var module = method.Module;
        Type[]? typeArgs = method.DeclaringType?.IsGenericType == true ? method.DeclaringType.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            int size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineType or OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok)
            {
                int token = BitConverter.ToInt32(il, i);
                MemberInfo? member = null;
                try { member = module.ResolveMember(token, typeArgs, methodArgs); }
                catch (ArgumentException) { }
                yield return member switch
                {
                    Type t => t,
                    MethodBase mb => mb.DeclaringType,
                    FieldInfo f => f.DeclaringType,
                    _ => null,
                };
                if (member is MethodInfo called)
                {
                    yield return called.ReturnType;
                    foreach (var g in called.IsGenericMethod ? called.GetGenericArguments() : []) yield return g;
                }
            }
            i += size;
        }
    }

    /// <summary>The namespace a type belongs to, compiler-generated nested types counted with their outer type.</summary>
    public static string NamespaceOf(Type t)
    {
        while (t.DeclaringType is not null) t = t.DeclaringType;
        return t.Namespace ?? "";
    }
}
